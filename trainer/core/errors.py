"""The one error type for problems the user can fix.

Every message is one sentence that says what is wrong and what to do, because it is shown
as-is in the chat and on the command line.
"""


class UserError(Exception):
    """A problem with the user's input (a file, a setting, a run id) that the user can fix."""


class BusyError(UserError):
    """The action is fine but cannot run yet (the machine already trains as many runs as it may); the same
    action can be tried again, unchanged, later."""
