"""The web console (网页管理端): server-rendered Chinese pages for county and township staff,
one more front end over the same application verbs as the CLI and the HTTP API (smsd.actions);
no rule lives here. Sessions, the password and the SMS code are smsd.actions.sessions'."""
