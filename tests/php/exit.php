<?php
// exit(N) after a complete page: the page is the response, N goes to the log.
echo "exiting with ", (int)($_GET['code'] ?? 0), "\n";
exit((int)($_GET['code'] ?? 0));
