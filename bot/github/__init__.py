"""The GitHub flow: an event payload becomes a job (events), who may start it and when not
(access), the checked target (trigger), the acknowledgement, the work-to-propose bundle,
publishing, and the Actions runner's files and workflow commands (actions)."""
