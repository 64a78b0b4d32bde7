"""The reference chatbot: keyword intents and per-language, per-tier replies personalized
from the read API's profile (docs/serving.md#chatbot)."""
