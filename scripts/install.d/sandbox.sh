# Sourced by scripts/install.sh in test mode: the sandbox the grader confines student code in,
# and `ps`, which the hostile-submission tests use to look for leftover processes.
apt_install bubblewrap procps
