"""API keys with roles, stored hashed in the auth database that every service verifies against."""

from shared.auth.keys import ROLES, ApiKey, ApiKeyStore, generate_key, hash_key

__all__ = ["ROLES", "ApiKey", "ApiKeyStore", "generate_key", "hash_key"]
