"""Helpers users import by Prefect's paths (`vibepiper.utilities.annotations`)."""
