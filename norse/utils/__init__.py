"""General utilities of the norse package."""
