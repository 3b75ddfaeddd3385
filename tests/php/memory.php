<?php
// Grabs memory until PHP's memory_limit stops it (a fatal error, exit 255) or the sandbox's does (507).
ini_set('memory_limit', $_GET['limit'] ?? '64M');
$keep = [];
while (true) {
    $keep[] = str_repeat('x', 1 << 20);
}
