"""The one exception type irwua raises for problems a user can fix.

Every message is a single sentence that says what is wrong and, where possible, what to do.
The CLI prints it without a traceback; ``--debug`` shows the traceback.
"""


class IrwuaError(Exception):
    """A problem with the model, the data or the options that the user can act on."""
