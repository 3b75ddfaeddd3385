<?php
// PDO SQLite and SQLite3 in a mapped writable folder: a counter table, one row per request.
header('Content-Type: application/json');
$db = new PDO('sqlite:/data/test.sqlite');
$db->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
$db->exec('CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, who TEXT)');
$st = $db->prepare('INSERT INTO hits (who) VALUES (?)');
$st->execute([$_GET['who'] ?? 'anon']);
$count = (int)$db->query('SELECT COUNT(*) FROM hits')->fetchColumn();
$s3 = new SQLite3('/data/test.sqlite');
$v = SQLite3::version();
$s3->close();
echo json_encode(['count' => $count, 'sqlite' => $v['versionString']]);
