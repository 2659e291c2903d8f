// taylor-opt reports bad input as one `taylor-opt: error: ...` line and a
// non-zero exit status, without a traceback (nothing is printed before or after it). The file is only a RUN script.

// RUN: not taylor-opt %S/inputs/tiny_mlp.py 2>&1 | filecheck %s --check-prefix=EXTENSION
// EXTENSION-NOT: Traceback
// EXTENSION: taylor-opt: error: cannot tell the format of {{.*}}tiny_mlp.py from its extension '.py': name it *.mlir or pass `-f mlir`
// EXTENSION-NOT: {{.}}

// RUN: not taylor-opt %S/inputs/no-such-file.mlir 2>&1 | filecheck %s --check-prefix=MISSING
// MISSING-NOT: Traceback
// MISSING: taylor-opt: error: no such file: {{.*}}no-such-file.mlir
// MISSING-NOT: {{.}}

// RUN: not taylor-opt %s -p no-such-pass 2>&1 | filecheck %s --check-prefix=PASS
// PASS-NOT: Traceback
// PASS: taylor-opt: error: Unrecognized passes: ['no-such-pass'] (see `taylor-opt --help` for the passes)
// PASS-NOT: {{.}}

// RUN: not taylor-opt %s -o %S/no-such-dir/out.mlir 2>&1 | filecheck %s --check-prefix=OUTPUT
// OUTPUT-NOT: Traceback
// OUTPUT: taylor-opt: error: cannot write {{.*}}no-such-dir/out.mlir: directory {{.*}}no-such-dir does not exist
// OUTPUT-NOT: {{.}}
