<?php
// An uncaught exception is a fatal error too (exit 255), with a shutdown function still run.
register_shutdown_function(function () { echo "shutdown ran\n"; });
echo "start\n";
throw new RuntimeException("boom");
