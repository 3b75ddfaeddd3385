<?php
// Miscellany that must work: mbstring, json, hash, random, date, pcre, filter, ctype, tokenizer, realpath.
header('Content-Type: application/json');
echo json_encode([
    'mb' => mb_strtoupper('héllo'),
    'sha' => hash('sha256', 'abc'),
    'rand' => strlen(random_bytes(32)),
    'date' => date('Y', 0),
    'preg' => preg_replace('/(\d+)/', '<$1>', 'a1b22'),
    'filter' => filter_var('a@b.example', FILTER_VALIDATE_EMAIL),
    'ctype' => ctype_digit('123'),
    'tokens' => count(token_get_all('<?php echo 1;')),
    'realpath' => realpath(__DIR__ . '/./hello.php'),
    // A '..' is not resolved: wasi-libc hands "/www/../www/x" to the host as "../www/x" under the
    // /www preopen, which WASI refuses (it leaves the folder). docs/php.md.
    'dotdot' => realpath(__DIR__ . '/../' . basename(__DIR__) . '/hello.php'),
    'max_int' => PHP_INT_MAX,
]);
