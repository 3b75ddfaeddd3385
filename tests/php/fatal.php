<?php
// A fatal error after some output: PHP prints its message and exits 255 (the page must be delivered).
echo "before the error\n";
this_function_does_not_exist();
echo "never printed\n";
