<?php
// header(), Status:, redirects and cookies, chosen by ?case=.
switch ($_GET['case'] ?? '') {
    case 'status':
        http_response_code(201);
        header('X-Php: yes');
        echo "created\n";
        break;
    case 'status-header':
        header('Status: 418 I am a teapot');
        echo "teapot\n";
        break;
    case 'redirect':
        header('Location: /php/hello.php', true, 302);
        break;
    case 'cookie':
        setcookie('flavour', 'oat meal', ['path' => '/', 'httponly' => true, 'samesite' => 'Lax']);
        setcookie('second', '2');
        echo "cookies set\n";
        break;
    case 'type':
        header('Content-Type: text/csv; charset=utf-8');
        echo "a,b\n1,2\n";
        break;
    default:
        header('X-Php: default');
        echo "default\n";
}
