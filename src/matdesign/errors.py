"""Error types shown to users.

Every problem with user input (files, arrays, options, targets) raises :class:`InputError`;
the CLI prints its message as one line on stderr and exits with code 2. Input that is accepted with
a remark (e.g. extra CSV columns) issues an :class:`InputNote` warning, shown by the CLI as ``note: …``.
"""


class InputError(ValueError):
    """A user-facing input problem. The message names the file/field/value at fault."""


class InputNote(UserWarning):
    """Accepted input worth a remark (an ignored CSV column …); the CLI prints it as one ``note:`` line."""
