<?php
// Echoes what PHP made of the CGI variables: superglobals and the $_SERVER entries a PHP app reads.
header('Content-Type: application/json');
$server = [];
foreach (['REQUEST_METHOD', 'QUERY_STRING', 'SCRIPT_NAME', 'SCRIPT_FILENAME', 'PHP_SELF', 'REQUEST_URI',
          'PATH_INFO', 'HTTP_HOST', 'HTTP_X_TEST', 'CONTENT_TYPE', 'SERVER_PROTOCOL', 'GATEWAY_INTERFACE',
          'DOCUMENT_ROOT', 'REMOTE_ADDR', 'HTTPS'] as $k) {
    $server[$k] = $_SERVER[$k] ?? null;
}
echo json_encode([
    'get' => $_GET, 'post' => $_POST, 'cookie' => $_COOKIE, 'server' => $server,
    'raw' => file_get_contents('php://input'),
    'int_size' => PHP_INT_SIZE,
    'extensions' => get_loaded_extensions(),
]);
