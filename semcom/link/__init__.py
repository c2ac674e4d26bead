"""Links: the digital link (bytes over 5G LDPC/Polar + QAM) and the analog link for learned JSCC."""
