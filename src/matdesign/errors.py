"""Error types shown to users.

Every problem with user input (files, arrays, options, targets) raises :class:`InputError`;
the CLI prints its message as one line on stderr and exits with code 2.
"""


class InputError(ValueError):
    """A user-facing input problem. The message names the file/field/value at fault."""
