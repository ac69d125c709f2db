"""What the API does, independent of HTTP: each function opens the transaction it
needs, calls repositories, applies the orchestration rules and returns wire models.
The background loops (retention; later scheduler, late runs, crash detector) live
here too. Unknown ids raise `vibepiper.exceptions.ObjectNotFound`.
"""
