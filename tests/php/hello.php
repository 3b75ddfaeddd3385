<?php
// The smallest page: proves the interpreter starts and runs a script found through SCRIPT_FILENAME.
echo "Hello from PHP ", PHP_VERSION, " on ", PHP_OS, "\n";
