<?php
// Multipart uploads: PHP writes each file into upload_tmp_dir (a mapped folder) under a unique name.
header('Content-Type: application/json');
$out = [];
foreach ($_FILES as $field => $f) {
    $out[$field] = [
        'name' => $f['name'], 'size' => $f['size'], 'error' => $f['error'], 'type' => $f['type'],
        'md5' => $f['error'] === 0 ? md5_file($f['tmp_name']) : null,
        'tmp_dir' => dirname($f['tmp_name']),
        'uploaded' => is_uploaded_file($f['tmp_name']),
    ];
}
echo json_encode(['files' => $out, 'post' => $_POST, 'temp' => sys_get_temp_dir()]);
