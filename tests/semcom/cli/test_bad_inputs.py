"""Every bad input a careless user tries, through the command line: a one-line error that names the option
(``semcom: error: ...`` or argparse's usage error), exit code 2, no traceback, and nothing computed before
the refusal (every computation is replaced by a tripwire here)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from semcom.cli.main import main

PROC = "/proc/semcom-no-such-folder"  # a folder that cannot be created

#: experiment configs, by name; {images} is a folder of images, {image} one image file
TOMLS = {
    "good": 'snr_db = [10.0]\n[images]\nlimit = 1\ncrop = 32\n[[schemes]]\nname = "bound"\n',
    "cbr_abc": 'snr_db = [10.0]\n[[schemes]]\nname = "bound"\ncbr = "abc"\n',
    "cbr_2": 'snr_db = [10.0]\n[[schemes]]\nname = "separation"\ncbr = 2\n',
    "cbr_0": 'snr_db = [10.0]\n[[schemes]]\nname = "bound"\ncbr = 0\n',
    "seed_negative": 'seed = -1\nsnr_db = [1.0]\n[scheme]\nname = "bound"\n',
    "seed_float": 'seed = 1.5\nsnr_db = [1.0]\n[scheme]\nname = "bound"\n',
    "seed_text": 'seed = "x"\nsnr_db = [1.0]\n[scheme]\nname = "bound"\n',
    "seed_huge": 'seed = 99999999999\nsnr_db = [1.0]\n[scheme]\nname = "bound"\n',
    "snr_empty": 'snr_db = []\n[scheme]\nname = "bound"\n',
    "snr_text": 'snr_db = ["x"]\n[scheme]\nname = "bound"\n',
    "snr_huge": 'snr_db = [1e9]\n[scheme]\nname = "bound"\n',
    "snr_missing": '[scheme]\nname = "bound"\n',
    "limit_0": 'snr_db = [1.0]\n[images]\nlimit = 0\n[scheme]\nname = "bound"\n',
    "crop_0": 'snr_db = [1.0]\n[images]\ncrop = 0\n[scheme]\nname = "bound"\n',
    "crop_text": 'snr_db = [1.0]\n[images]\ncrop = "abc"\n[scheme]\nname = "bound"\n',
    "images_number": 'snr_db = [1.0]\nimages = 5\n[scheme]\nname = "bound"\n',
    "images_missing": 'snr_db = [1.0]\n[images]\nfolder = "/nonexistent/images"\n[scheme]\nname = "bound"\n',
    "images_file": 'snr_db = [1.0]\n[images]\nfolder = "{image}"\n[scheme]\nname = "bound"\n',
    "images_unknown_key": 'snr_db = [1.0]\n[images]\nfolders = "x"\n[scheme]\nname = "bound"\n',
    "channel_unknown": 'snr_db = [1.0]\n[channel]\nname = "wifi"\n[scheme]\nname = "bound"\n',
    "channel_option": 'snr_db = [1.0]\n[channel]\nname = "rayleigh"\nbogus = 3\n[scheme]\nname = "bound"\n',
    "channel_value": 'snr_db = [1.0]\n[images]\nlimit = 1\ncrop = 32\n[channel]\nname = "rayleigh"\n'
                     'block_length = -3\n[scheme]\nname = "separation"\ncodec = "jpeg"\n',
    "mcs_99": 'snr_db = [1.0]\n[scheme]\nname = "separation"\nmcs = 99\n',
    "arq_text": 'snr_db = [1.0]\n[scheme]\nname = "separation"\narq = "x"\n',
    "arq_negative": 'snr_db = [1.0]\n[scheme]\nname = "separation"\narq = -1\n',
    "margin_text": 'snr_db = [1.0]\n[scheme]\nname = "separation"\nsnr_margin_db = "x"\n',
    "codec_number": 'snr_db = [1.0]\n[scheme]\nname = "separation"\ncodec = 5\n',
    "codec_list": 'snr_db = [1.0]\n[scheme]\nname = "separation"\ncodec = ["a"]\n',
    "codec_unknown": 'snr_db = [1.0]\n[scheme]\nname = "separation"\ncodec = "nope"\n',
    "prompt_bits": 'snr_db = [1.0]\n[scheme]\nname = "gai"\nprompt_bits = -1\n',
    "steps_0": 'snr_db = [1.0]\n[scheme]\nname = "gai"\nsteps = 0\n',
    "guidance": 'snr_db = [1.0]\n[scheme]\nname = "gai"\nguidance = -1\n',
    "strength": 'snr_db = [1.0]\n[scheme]\nname = "gai"\nstrength = 0\n',
    "similarity": 'snr_db = [1.0]\n[scheme]\nname = "gai"\nsimilarity = "yes"\n',
    "captions_number": 'snr_db = [1.0]\n[scheme]\nname = "gai"\ncaptions = 5\n',
    "stage_steps": 'snr_db = [1.0]\n[scheme]\nname = "gai"\n[scheme.stages.generator]\n'
                   'name = "tiny-stable-diffusion"\nsteps = 0\n',
    "stage_unnamed": 'snr_db = [1.0]\n[scheme]\nname = "gai"\n[scheme.stages]\ngenerator = 5\n',
    "stage_kind": 'snr_db = [1.0]\n[scheme]\nname = "gai"\n[scheme.stages.wizard]\nname = "x"\n',
    "stages_number": 'snr_db = [1.0]\n[scheme]\nname = "gai"\nstages = 5\n',
    "label_number": 'snr_db = [1.0]\n[scheme]\nname = "bound"\nlabel = 3\n',
    "name_number": 'name = 5\nsnr_db = [1.0]\n[scheme]\nname = "bound"\n',
    "name_path": 'name = "../elsewhere"\nsnr_db = [1.0]\n[scheme]\nname = "bound"\n',
    "description_number": 'description = 3\nsnr_db = [1.0]\n[scheme]\nname = "bound"\n',
    "plugins_text": 'snr_db = [1.0]\nplugins = "x"\n[scheme]\nname = "bound"\n',
    "plugins_number": 'snr_db = [1.0]\nplugins = [3]\n[scheme]\nname = "bound"\n',
    "plugin_missing": 'snr_db = [1.0]\nplugins = ["no_such_plugin_module"]\n[scheme]\nname = "bound"\n',
    "unknown_key": 'snr_db = [1.0]\nbogus = 1\n[scheme]\nname = "bound"\n',
    "scheme_unknown": 'snr_db = [1.0]\n[scheme]\nname = "nope"\n',
    "scheme_missing": 'snr_db = [1.0]\n',
    "scheme_option": 'snr_db = [1.0]\n[scheme]\nname = "bound"\nwidth = 3\n',
    "schemes_text": 'snr_db = [1.0]\nschemes = "bound"\n',
    "jscc_model": 'snr_db = [1.0]\n[images]\nlimit = 1\ncrop = 32\n[scheme]\nname = "jscc"\nmodel = "nope"\n',
    "jscc_cbr": ('snr_db = [1.0]\n[images]\nlimit = 1\ncrop = 32\n[scheme]\nname = "jscc"\nmodel = "jscc-awgn-cbr1-16"\n'
                 'cbr = "1/48"\n'),
    "malformed": 'snr_db = [0.0\n[scheme]\n',
}

IMAGE = ["transmit", "{image}", "--scheme", "bound"]
GAI = ["transmit", "{image}", "--scheme", "gai", "--generator", "fallback", "--captioner", "tiny-vit-gpt2"]
RUN_OUT = ["--out", "{tmp}/run_out"]
TABLE4 = ["table4", "--schemes", "bound", "--limit", "1", "--crop", "32"]
TRAIN = ["train", "jscc", "--data", "{images}", "--val", "", "--steps", "1", "--crop", "32",
         "--out", "{tmp}/jscc", "--state-dir", "{tmp}/jscc_state"]
PROMPT_LM = ["train", "prompt-lm", "--out", "{tmp}/lm"]

CASES = [
    # transmit: output, image, SNR, seed, scheme options
    ([*IMAGE, "--out", f"{PROC}/o.png"], f"--out {PROC}/o.png: cannot write in {PROC}"),
    ([*IMAGE, "--out", "{file}/x.png"], "some.jpg is a file, not a folder"),
    ([*IMAGE, "--out", "{empty}"], "is a folder; give a file name"),
    ([*IMAGE, "--out", "{tmp}/o.xyz"], "must end with one of: .png"),
    ([*IMAGE, "--seed", "-1"], "argument --seed: must be an integer from 0 to 4294967295, got '-1'"),
    ([*IMAGE, "--seed", "1.5"], "argument --seed: must be an integer"),
    ([*IMAGE, "--plugin", "/nonexistent.py"], "plugin file not found: /nonexistent.py"),
    (["transmit", "{binary}", "--scheme", "bound"], "not a readable image file"),
    (["transmit", "{text_png}", "--scheme", "bound"], "not a readable image file"),
    (["transmit", "{empty}", "--scheme", "bound"], "is a folder, not an image file"),
    (["transmit", "/nonexistent.png", "--scheme", "bound"], "image file not found: /nonexistent.png"),
    ([*IMAGE, "--snr-db", "nan"], "argument --snr-db: must be a list of one or more values, each a finite number from -50 to 100 dB"),
    ([*IMAGE, "--snr-db", "inf"], "argument --snr-db: must be a list of one or more values, each a finite number"),
    ([*IMAGE, "--snr-db", "1e9"], "argument --snr-db: must be a list of one or more values, each a finite number from -50 to 100 dB, got '1e9'"),
    ([*IMAGE, "--snr-db", "abc"], "argument --snr-db: must be a list of one or more values, each a finite number"),
    ([*IMAGE, "--cbr", "0"], "argument --cbr: must be a fraction in (0, 1]"),
    ([*IMAGE, "--cbr", "3/2"], "argument --cbr: must be a fraction in (0, 1]"),
    ([*IMAGE, "--cbr", "1/0"], "argument --cbr: must be a fraction in (0, 1]"),
    ([*IMAGE, "--cbr", "abc"], "argument --cbr: must be a fraction in (0, 1]"),
    (["transmit", "{image}", "--scheme", "separation", "--mcs", "16"], "argument --mcs: must be an integer from 0 to 15"),
    (["transmit", "{image}", "--scheme", "separation", "--mcs", "-1"], "argument --mcs: must be an integer from 0 to 15"),
    (["transmit", "{image}", "--scheme", "separation", "--arq", "-1"], "argument --arq: must be an integer from 0 to 16"),
    (["transmit", "{image}", "--scheme", "separation", "--codec", "nope"], "unknown codec 'nope'"),
    (["transmit", "{image}", "--scheme", "nope"], "unknown scheme 'nope'"),
    (["transmit", "{image}", "--channel", "wifi"], "argument --channel: invalid choice: 'wifi'"),
    ([*IMAGE, "--mcs", "3"], "scheme 'bound' does not take --mcs"),
    (["transmit", "{image}", "--scheme", "jscc", "--model", "/nonexistent"], "JSCC checkpoint '/nonexistent' not found"),
    (["transmit", "{image}", "--scheme", "jscc", "--model", "jscc-awgn-cbr1-16", "--cbr", "1/48"],
     "is trained for CBR 0.06250, not 0.02083"),
    (["transmit", "{image}", "--scheme", "jscc", "--cbr", "1/8"], "no shipped JSCC checkpoint is trained for CBR 1/8"),
    ([*GAI, "--prompt-bits", "-5"], "argument --prompt-bits: must be an integer from 0 to 1000000"),
    ([*GAI, "--steps", "0"], "argument --steps: must be an integer from 1 to 1000"),
    ([*GAI, "--steps", "1001"], "argument --steps: must be an integer from 1 to 1000"),
    ([*GAI, "--guidance", "nan"], "argument --guidance: must be a finite number from 0 to 100"),
    ([*GAI, "--strength", "0"], "argument --strength: must be a finite number in (0, 1]"),
    ([*GAI, "--strength", "7"], "argument --strength: must be a finite number in (0, 1]"),
    ([*GAI, "--side-bits", "0"], "argument --side-bits: must be an integer from 1 to 10000000"),
    ([*GAI, "--captioner", "reference", "--captions", "/nonexistent.json"], "captions file /nonexistent.json does not exist"),
    ([*GAI, "--prompt-mode", "nope"], "unknown prompt mode 'nope'"),
    ([*GAI, "--side-info", "nope"], "side_info must be 'none' or 'thumbnail'"),
    # eval
    (["eval", "--limit", "0"], "argument --limit: must be an integer at least 1, got '0'"),
    (["eval", "--limit", "-3"], "argument --limit: must be an integer at least 1"),
    (["eval", "--limit", "x"], "argument --limit: must be an integer at least 1"),
    (["eval", "--images", "{image}"], "is not a folder"),
    (["eval", "--images", "{empty}"], "no image files in"),
    (["eval", "--images", "/nonexistent/folder"], "image folder not found: /nonexistent/folder"),
    (["eval", "--snr-db", ""], "argument --snr-db: must be a list of one or more values, each a finite number"),
    (["eval", "--snr-db", "1,,x"], "argument --snr-db: must be a list of one or more values"),
    (["eval", "--seed", "-1"], "argument --seed: must be an integer from 0 to 4294967295"),
    (["eval", "--scheme", "bound", "--channel", "tdl", "--limit", "1"], "defined here for awgn and rayleigh, not 'tdl'"),
    # run: the config file, --out, --plugin, then every config key
    (["run", "/nonexistent.toml"], "config file not found: /nonexistent.toml"),
    (["run", "{empty}"], "is a folder; give a TOML file"),
    (["run", "{binary}"], "not a text file"),
    (["run", "{toml_malformed}", *RUN_OUT], "malformed TOML"),
    (["run", "{toml_good}", "--out", PROC], f"--out {PROC}: cannot write in {PROC}"),
    (["run", "{toml_good}", "--out", "{file}/out"], "some.jpg is a file, not a folder"),
    (["run", "{toml_good}", "--out", "{file}"], "some.jpg: it is a file, not a folder"),
    (["run", "{toml_good}", *RUN_OUT, "--plugin", "{plugin_exit}"], "called sys.exit(3) while being imported"),
    (["run", "{toml_good}", *RUN_OUT, "--plugin", "/nonexistent.py"], "plugin file not found: /nonexistent.py"),
    (["run", "{toml_cbr_abc}", *RUN_OUT], "schemes[0].cbr must be a fraction in (0, 1] such as 1/16 or 0.0625, got 'abc'"),
    (["run", "{toml_cbr_2}", *RUN_OUT], "schemes[0].cbr must be a fraction in (0, 1]"),
    (["run", "{toml_cbr_0}", *RUN_OUT], "schemes[0].cbr must be a fraction in (0, 1]"),
    (["run", "{toml_seed_negative}", *RUN_OUT], "seed must be an integer from 0 to 4294967295, got -1"),
    (["run", "{toml_seed_float}", *RUN_OUT], "seed must be an integer from 0 to 4294967295, got 1.5"),
    (["run", "{toml_seed_text}", *RUN_OUT], "seed must be an integer from 0 to 4294967295, got 'x'"),
    (["run", "{toml_seed_huge}", *RUN_OUT], "seed must be an integer from 0 to 4294967295"),
    (["run", "{toml_snr_empty}", *RUN_OUT], "snr_db must be a list of one or more values"),
    (["run", "{toml_snr_text}", *RUN_OUT], "snr_db must be a list of one or more values, each a finite number"),
    (["run", "{toml_snr_huge}", *RUN_OUT], "from -50 to 100 dB, got [1000000000.0]"),
    (["run", "{toml_snr_missing}", *RUN_OUT], "missing key 'snr_db'"),
    (["run", "{toml_limit_0}", *RUN_OUT], "images.limit must be an integer at least 1, got 0"),
    (["run", "{toml_crop_0}", *RUN_OUT], "images.crop must be an integer from 16 to 16384, got 0"),
    (["run", "{toml_crop_text}", *RUN_OUT], "images.crop must be an integer from 16 to 16384, got 'abc'"),
    (["run", "{toml_images_number}", *RUN_OUT], "images must be a table"),
    (["run", "{toml_images_missing}", *RUN_OUT], "image folder not found: /nonexistent/images"),
    (["run", "{toml_images_file}", *RUN_OUT], "is not a folder"),
    (["run", "{toml_images_unknown_key}", *RUN_OUT], "unknown key 'images.folders'"),
    (["run", "{toml_channel_unknown}", *RUN_OUT], "unknown channel 'wifi'"),
    (["run", "{toml_channel_option}", *RUN_OUT], "channel 'rayleigh' has no option 'bogus'"),
    (["run", "{toml_channel_value}", *RUN_OUT], "block_length must be a positive integer, got -3"),
    (["run", "{toml_mcs_99}", *RUN_OUT], "scheme.mcs must be an integer from 0 to 15, got 99"),
    (["run", "{toml_arq_text}", *RUN_OUT], "scheme.arq must be an integer from 0 to 16, got 'x'"),
    (["run", "{toml_arq_negative}", *RUN_OUT], "scheme.arq must be an integer from 0 to 16, got -1"),
    (["run", "{toml_margin_text}", *RUN_OUT], "scheme.snr_margin_db must be a finite number from 0 to 20 dB"),
    (["run", "{toml_codec_number}", *RUN_OUT], "scheme.codec must be a non-empty string, got 5"),
    (["run", "{toml_codec_list}", *RUN_OUT], "scheme.codec must be a non-empty string, got ['a']"),
    (["run", "{toml_codec_unknown}", *RUN_OUT], "unknown codec 'nope'"),
    (["run", "{toml_prompt_bits}", *RUN_OUT], "scheme.prompt_bits must be an integer from 0 to 1000000, got -1"),
    (["run", "{toml_steps_0}", *RUN_OUT], "scheme.steps must be an integer from 1 to 1000, got 0"),
    (["run", "{toml_guidance}", *RUN_OUT], "scheme.guidance must be a finite number from 0 to 100, got -1"),
    (["run", "{toml_strength}", *RUN_OUT], "scheme.strength must be a finite number in (0, 1], got 0"),
    (["run", "{toml_similarity}", *RUN_OUT], "scheme.similarity must be true or false, got 'yes'"),
    (["run", "{toml_captions_number}", *RUN_OUT], "scheme.captions must be a non-empty string, got 5"),
    (["run", "{toml_stage_steps}", *RUN_OUT], "scheme.stages.generator.steps must be an integer from 1 to 1000"),
    (["run", "{toml_stage_unnamed}", *RUN_OUT], "scheme.stages.generator needs a name"),
    (["run", "{toml_stage_kind}", *RUN_OUT], "unknown stage kind 'scheme.stages.wizard'"),
    (["run", "{toml_stages_number}", *RUN_OUT], "scheme.stages must be a table of stage tables"),
    (["run", "{toml_label_number}", *RUN_OUT], "scheme.label must be a non-empty string without '|', got 3"),
    (["run", "{toml_name_number}", *RUN_OUT], "name must be a non-empty string without '/'"),
    (["run", "{toml_name_path}", *RUN_OUT], "(it names the default results folder), got '../elsewhere'"),
    (["run", "{toml_description_number}", *RUN_OUT], "description must be a string"),
    (["run", "{toml_plugins_text}", *RUN_OUT], "plugins must be a list of module names, got 'x'"),
    (["run", "{toml_plugins_number}", *RUN_OUT], "each plugin must be a module name or a .py path, got 3"),
    (["run", "{toml_plugin_missing}", *RUN_OUT], "cannot import plugin 'no_such_plugin_module'"),
    (["run", "{toml_unknown_key}", *RUN_OUT], "unknown key 'bogus'"),
    (["run", "{toml_scheme_unknown}", *RUN_OUT], "unknown scheme 'nope'"),
    (["run", "{toml_scheme_missing}", *RUN_OUT], "missing key 'scheme'"),
    (["run", "{toml_scheme_option}", *RUN_OUT], "scheme 'bound' has no option 'width'"),
    (["run", "{toml_schemes_text}", *RUN_OUT], "schemes must be a non-empty list of tables"),
    (["run", "{toml_jscc_model}", *RUN_OUT], "JSCC checkpoint 'nope' not found"),
    (["run", "{toml_jscc_cbr}", *RUN_OUT], "is trained for CBR 0.06250, not 0.02083"),
    # table4
    ([*TABLE4[:-2], "--crop", "0", "--out", "{tmp}/t4"], "argument --crop: must be an integer from 16 to 16384, got '0'"),
    ([*TABLE4[:-2], "--crop", "-5", "--out", "{tmp}/t4"], "argument --crop: must be an integer from 16 to 16384"),
    ([*TABLE4[:-2], "--crop", "1", "--out", "{tmp}/t4"], "argument --crop: must be an integer from 16 to 16384"),
    ([*TABLE4, "--limit", "0", "--out", "{tmp}/t4"], "argument --limit: must be an integer at least 1"),
    ([*TABLE4, "--seed", "-1", "--out", "{tmp}/t4"], "argument --seed: must be an integer from 0 to 4294967295"),
    ([*TABLE4, "--cbr", "0", "--out", "{tmp}/t4"], "argument --cbr: must be a fraction in (0, 1]"),
    ([*TABLE4, "--snr-db", "nan", "--out", "{tmp}/t4"], "argument --snr-db: must be a list of one or more values"),
    ([*TABLE4, "--channel", "wifi", "--out", "{tmp}/t4"], "argument --channel: invalid choice: 'wifi'"),
    ([*TABLE4, "--out", PROC], f"--out {PROC}: cannot write in {PROC}"),
    ([*TABLE4, "--out", "{file}"], "some.jpg: it is a file, not a folder"),
    ([*TABLE4, "--out", "{file}/out"], "some.jpg is a file, not a folder"),
    ([*TABLE4, "--images", "{image}", "--out", "{tmp}/t4"], "is not a folder"),
    ([*TABLE4, "--images", "/nonexistent/folder", "--out", "{tmp}/t4"], "image folder not found"),
    ([*TABLE4, "--images", "{empty}", "--out", "{tmp}/t4"], "no image files in"),
    (["table4", "--schemes", "teleport", "--out", "{tmp}/t4"], "unknown Table 4 scheme 'teleport'"),
    (["table4", "--schemes", ",", "--out", "{tmp}/t4"], "--schemes is empty"),
    (["table4", "--schemes", "traditional", "--codec", "nope", "--out", "{tmp}/t4"], "unknown codec 'nope'"),
    (["table4", "--schemes", "generative", "--generator", "nope", "--out", "{tmp}/t4"], "unknown generator 'nope'"),
    (["table4", "--schemes", "generative", "--limit", "1", "--crop", "32", "--generator", "fallback", "--captions",
      "/nonexistent.json", "--out", "{tmp}/t4"], "captions file /nonexistent.json does not exist"),
    ([*TABLE4, "--plugin", "/nonexistent.py", "--out", "{tmp}/t4"], "plugin file not found"),
    ([*TABLE4, "--plugin", "{plugin_exit}", "--out", "{tmp}/t4"], "called sys.exit(3) while being imported"),
    # link ber
    (["link", "ber", "--rate", "1/1000", "--bits", "2000", "--snr-db", "4"],
     "--rate with --code ldpc must be a finite number from 0.200195 to 0.95, got 0.001"),
    (["link", "ber", "--code", "polar", "--rate", "0.01"], "--rate with --code polar must be a finite number from 0.025 to 1"),
    (["link", "ber", "--rate", "0"], "argument --rate: must be a fraction in (0, 1]"),
    (["link", "ber", "--bits", "0"], "argument --bits: must be an integer from 1 to 100000000, got '0'"),
    (["link", "ber", "--bits", "-5"], "argument --bits: must be an integer from 1 to 100000000"),
    (["link", "ber", "--seed", "-1"], "argument --seed: must be an integer from 0 to 4294967295"),
    (["link", "ber", "--snr-db", "nan"], "argument --snr-db: must be a list of one or more values, each a finite number"),
    (["link", "ber", "--modulation", "8psk"], "argument --modulation: invalid choice: '8psk'"),
    (["link", "ber", "--code", "turbo"], "argument --code: invalid choice: 'turbo'"),
    # link bler-table
    (["link", "bler-table", "--blocks", "0"], "argument --blocks: must be an integer from 10 to 1000000, got '0'"),
    (["link", "bler-table", "--blocks", "-1"], "argument --blocks: must be an integer from 10 to 1000000"),
    (["link", "bler-table", "--blocks", "9"], "argument --blocks: must be an integer from 10 to 1000000"),
    (["link", "bler-table", "--step-db", "0"], "argument --step-db: must be a finite number from 0.1 to 6 dB, got '0'"),
    (["link", "bler-table", "--step-db", "-1"], "argument --step-db: must be a finite number from 0.1 to 6 dB, got '-1'"),
    (["link", "bler-table", "--step-db", "nan"], "argument --step-db: must be a finite number from 0.1 to 6 dB"),
    (["link", "bler-table", "--step-db", "100"], "argument --step-db: must be a finite number from 0.1 to 6 dB"),
    (["link", "bler-table", "--seed", "-1"], "argument --seed: must be an integer from 0 to 4294967295"),
    (["link", "bler-table", "--out", f"{PROC}/b.json"], f"--out {PROC}/b.json: cannot write in {PROC}"),
    (["link", "bler-table", "--out", "{file}/b.json"], "some.jpg is a file, not a folder"),
    (["link", "bler-table", "--out", "{empty}"], "is a folder; give a file name"),
    (["link", "bler-table", "--out", "{tmp}/b.txt"], "must end with one of: .json"),
    # demo
    (["demo", "--bytes", "0"], "argument --bytes: must be an integer at least 1, got '0'"),
    (["demo", "--bytes", "-4"], "argument --bytes: must be an integer at least 1"),
    (["demo", "--bytes", "8388609"], "--bytes must be at most 8388608, got 8388609"),
    (["demo", "--channels", "wifi"], "argument --channels: must be a list of one or more values, each one of: awgn"),
    (["demo", "--channels", ","], "argument --channels: must be a list of one or more values"),
    (["demo", "--seed", "-1"], "argument --seed: must be an integer from 0 to 4294967295"),
    (["demo", "--snr-db", "1e9"], "argument --snr-db: must be a list of one or more values"),
    # network simulate
    (["network", "simulate", "{binary}"], "is not a text (TOML) file"),
    (["network", "simulate", "{empty}"], "is a folder; give a file"),
    (["network", "simulate", "/nonexistent.toml"], "config /nonexistent.toml: cannot read the file"),
    (["network", "simulate", "{toml_good}"], "missing key 'budget'"),
    (["network", "simulate", "{toml_malformed}"], "malformed TOML"),
    (["network", "simulate", "{toml_good}", "--seed", "-1"], "argument --seed: must be an integer from 0 to 4294967295"),
    # train jscc
    ([*TRAIN, "--steps", "0"], "argument --steps: must be an integer at least 1, got '0'"),
    ([*TRAIN, "--batch", "0"], "argument --batch: must be an integer from 1 to 4096"),
    ([*TRAIN, "--lr", "nan"], "argument --lr: must be a finite number in (0, 10]"),
    ([*TRAIN, "--lr", "0"], "argument --lr: must be a finite number in (0, 10]"),
    ([*TRAIN, "--minutes", "0"], "argument --minutes: must be a finite number above 0"),
    ([*TRAIN, "--crop", "8"], "argument --crop: must be an integer from 16 to 16384"),
    ([*TRAIN, "--crop", "17"], "crop a multiple of 16"),
    ([*TRAIN, "--final-frac", "2"], "argument --final-frac: must be a finite number from 0 to 1"),
    ([*TRAIN, "--warmup", "-1"], "argument --warmup: must be an integer at least 0"),
    ([*TRAIN, "--grad-clip", "-1"], "argument --grad-clip: must be a finite number at least 0"),
    ([*TRAIN, "--snr-range", "1"], "argument --snr-range: must be a list of 2 values"),
    ([*TRAIN, "--snr-range", "nan,3"], "argument --snr-range: must be a list of 2 values, each a finite number"),
    ([*TRAIN, "--snr-range", "10,0"], "snr range [10.0, 0.0] is empty"),
    ([*TRAIN, "--val-snrs", ""], "argument --val-snrs: must be a list of one or more values"),
    ([*TRAIN, "--val-every", "-1"], "argument --val-every: must be an integer at least 0"),
    ([*TRAIN, "--ckpt-every", "-1"], "argument --ckpt-every: must be an integer at least 0"),
    ([*TRAIN, "--threads", "0"], "argument --threads: must be an integer from 1 to 1024"),
    ([*TRAIN, "--seed", "-1"], "argument --seed: must be an integer from 0 to 4294967295"),
    ([*TRAIN, "--widths", "1,2"], "widths must be 4 channel counts >= 4"),
    ([*TRAIN, "--widths", "x"], "argument --widths: must be a list of one or more values, each an integer"),
    ([*TRAIN, "--cbr", "1/7"], "CBR 1/7 needs 219.429 real values per 16x16 patch"),
    ([*TRAIN, "--channel", "wifi"], "unknown channel 'wifi'"),
    ([*TRAIN, "--channel-option", "bogus"], "argument --channel-option: options are KEY=VALUE"),
    ([*TRAIN, "--channel-option", "foo=1"], "unexpected keyword argument 'foo'"),
    ([*TRAIN, "--data", "/nonexistent"], "--data /nonexistent: folder not found"),
    ([*TRAIN, "--data", "{image}"], "is a file; give a folder"),
    ([*TRAIN, "--data", "{empty}"], "no images"),
    ([*TRAIN, "--val", "{image}"], "--val {image} is a file; give a folder"),
    ([*TRAIN, "--out", "{file}/ck"], "some.jpg is a file, not a folder"),
    ([*TRAIN, "--state-dir", PROC], f"--state-dir {PROC}: cannot write in {PROC}"),
    ([*TRAIN, "--init", "/nonexistent"], "JSCC checkpoint '/nonexistent' not found"),
    ([*TRAIN, "--resume"], "--resume: no training state at"),
    ([*TRAIN, "--state-dir", "{saved_state}"], "holds the state of an earlier run (state.pt); continue it with --resume"),
    # train prompt-lm
    ([*PROMPT_LM, "--epochs", "0"], "argument --epochs: must be a finite number in (0, 10000]"),
    ([*PROMPT_LM, "--holdout", "2"], "argument --holdout: must be a finite number in (0, 1)"),
    ([*PROMPT_LM, "--holdout", "0"], "argument --holdout: must be a finite number in (0, 1)"),
    ([*PROMPT_LM, "--dim", "999"], "argument --dim: must be an integer from 1 to 384"),
    ([*PROMPT_LM, "--batch", "0"], "argument --batch: must be an integer from 1 to 65536"),
    ([*PROMPT_LM, "--lr", "0"], "argument --lr: must be a finite number in (0, 10]"),
    ([*PROMPT_LM, "--seed", "-1"], "argument --seed: must be an integer from 0 to 4294967295"),
    ([*PROMPT_LM, "--threads", "0"], "argument --threads: must be an integer from 1 to 1024"),
    ([*PROMPT_LM, "--data", "/nonexistent"], "--data /nonexistent: folder not found"),
    (["train", "prompt-lm", "--out", "{file}"], "some.jpg: it is a file, not a folder"),
]


class Computed(BaseException):
    """Raised by a tripwire: the command started computing before it refused its input."""


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    from PIL import Image
    from skimage import data

    root = tmp_path_factory.mktemp("bad_inputs")
    Image.fromarray(data.astronaut()[100:148, 100:148]).save(root / "image.png")
    (root / "images").mkdir()
    for i in range(2):
        Image.fromarray(data.astronaut()[i * 64 : i * 64 + 64, :64]).save(root / "images" / f"{i}.png")
    (root / "empty").mkdir()
    (root / "some.jpg").write_bytes(b"a file where a folder is expected")
    (root / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (root / "text.png").write_text("not an image")
    (root / "plugin_exit.py").write_text("import sys\nsys.exit(3)\n")
    (root / "saved_state").mkdir()
    (root / "saved_state" / "state.pt").write_bytes(b"a saved training state")
    paths = {name: str(root / file) for name, file in (
        ("tmp", ""), ("image", "image.png"), ("images", "images"), ("empty", "empty"), ("file", "some.jpg"),
        ("binary", "binary.bin"), ("text_png", "text.png"), ("plugin_exit", "plugin_exit.py"),
        ("saved_state", "saved_state"))}
    for name, body in TOMLS.items():
        path = root / f"{name}.toml"
        path.write_text(body.format(image=paths["image"], images=paths["images"]))
        paths[f"toml_{name}"] = str(path)
    return paths


@pytest.fixture
def tripwires(monkeypatch):
    """Every computation of every command raises :class:`Computed`."""
    from semcom.link.digital import DigitalLink
    from semcom.schemes import SCHEMES

    def computed(*args, **kwargs):
        raise Computed("the command computed before refusing its input")

    for name in SCHEMES.names():
        monkeypatch.setattr(SCHEMES.get(name), "transmit", computed)
    monkeypatch.setattr(DigitalLink, "transmit", computed)
    monkeypatch.setattr("semcom.link.ber.simulate_ber", computed)
    monkeypatch.setattr("semcom.link.bler_table.generate_bler_table", computed)
    monkeypatch.setattr("semcom.network.scenario.simulate", computed)
    monkeypatch.setattr("semcom.jscc.train.CropSampler.batch", computed)
    monkeypatch.setattr("semcom.semantic.corpus.load_flickr8k_pairs", computed)
    monkeypatch.setattr("semcom.semantic.neural_codec.cached_word_vectors", computed)  # a minute on a fresh machine


def run_cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    """Exit code and stderr lines of ``semcom ARGV``, run in this process."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err.strip().splitlines()


ERROR_LINE = re.compile(r"^semcom(?: [\w-]+)*: error: ")


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(argv)[:80] for argv, _ in CASES])
def test_bad_input_is_refused_in_one_line(argv, message, files, tripwires, capsys):
    argv = [arg.format(**files) for arg in argv]
    code, lines = run_cli(argv, capsys)
    assert code == 2, lines
    assert not any("Traceback" in line for line in lines)
    assert lines and ERROR_LINE.match(lines[-1]), lines
    if lines[-1].startswith("semcom: error:"):
        assert len(lines) == 1, lines
    else:  # argparse: its usage, then the error line
        assert lines[0].startswith("usage: semcom"), lines
    assert message.format(**files) in lines[-1]


def test_the_table_covers_every_command():
    commands = {" ".join(a for a in argv[:2] if not a.startswith(("-", "{"))) for argv, _ in CASES}
    assert commands >= {"transmit", "eval", "run", "table4", "link ber", "link bler-table", "demo",
                        "network simulate", "train jscc", "train prompt-lm"}
    assert len(CASES) >= 150


def test_ctrl_c_is_reported_with_the_resume_hint(files, monkeypatch, capsys):
    from semcom.schemes import SCHEMES

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(SCHEMES.get("bound"), "transmit", interrupted)
    code, lines = run_cli(["run", files["toml_good"], "--out", f"{files['tmp']}/interrupted", "--no-progress"], capsys)
    assert code == 130
    assert lines == ["semcom: interrupted; resume with the same command"]


def test_sys_exit_in_a_stage_is_reported(files, monkeypatch, capsys):
    from semcom.schemes import SCHEMES

    def exits(*args, **kwargs):
        sys.exit(4)

    monkeypatch.setattr(SCHEMES.get("bound"), "transmit", exits)
    code, lines = run_cli(["run", files["toml_good"], "--out", f"{files['tmp']}/exited", "--no-progress"], capsys)
    assert code == 2
    assert lines == ["semcom: error: a plugin or stage ended the command with sys.exit(4)"]


def test_transmit_saves_nothing_partial(files, monkeypatch, capsys):
    """An image write that fails half-way leaves the earlier file and no temporary file beside it."""
    import semcom.images

    out = Path(files["tmp"]) / "partial" / "out.png"
    out.parent.mkdir()
    out.write_bytes(b"earlier result")

    def broken(path, image, **kwargs):
        Path(path).write_bytes(b"half an ima")
        raise KeyboardInterrupt

    monkeypatch.setattr(semcom.images, "save_image", broken)
    code, lines = run_cli(["transmit", files["image"], "--scheme", "bound", "--snr-db", "20", "--out", str(out)], capsys)
    assert code == 130 and lines[-1] == "semcom: interrupted; resume with the same command"
    assert out.read_bytes() == b"earlier result"
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.png"]
