"""Helpers for testing flows (Prefect's `prefect.testing`): see `vibepiper.testing.utilities`."""
