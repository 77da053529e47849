"""The state database: tables, migrations and the repository functions over them."""
