"""Knowledge base shared by transmitter and receiver."""
