"""Collaborative inference over the node model: caption LMs trained here (:mod:`.lm`), the layer-chain
split planner (:mod:`.split`), features sent over the link (:mod:`.features`), the big-small cascade
and speculative decoding across a link, and the network service running them (:mod:`.service`)."""
