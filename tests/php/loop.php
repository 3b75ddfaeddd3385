<?php
// An endless loop: max_execution_time cannot stop it inside the sandbox, WasmTimeout does (504).
echo "looping\n";
while (true) {
}
