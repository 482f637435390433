"""The chain service: encrypted profile vault, sync API and HQ APIs."""
