"""The one exception the grader raises for problems a user can fix."""


class GraderError(Exception):
    """A problem with the user's input (an option, a file, a folder) that the user can fix.

    The message names the thing at fault and how to fix it; the command line prints it as one
    line and exits with status 2.
    """
