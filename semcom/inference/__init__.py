"""Collaborative inference over the node model: caption LMs trained here (:mod:`.lm`), the layer-chain
split planner (:mod:`.split`), features sent over the link digitally or analog (:mod:`.features`) and what
channel noise on them costs the task (:mod:`.quality`), the JSCC and ViT-GPT2 captioner chains as further
split candidates (:mod:`.profiles`), the big-small cascade and speculative decoding across a link with KV
caches (:mod:`.decode`), and the network service running them (:mod:`.service`)."""
