<?php
// Sessions: files in session.save_path (a mapped writable folder); a counter per session.
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
header('Content-Type: text/plain');
echo "n=", $_SESSION['n'], " id=", session_id(), "\n";
