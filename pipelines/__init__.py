"""profilake: real-time customer profiles and segments for customer-support chatbots."""
