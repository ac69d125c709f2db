"""`python -m vibepiper.cli`: the same as the `vibepiper` console script."""

from vibepiper.cli.root import main

if __name__ == "__main__":
    main()
