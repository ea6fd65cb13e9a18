#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""rstcheck.py FILE [NAME]: print docutils' warnings and errors for the
reStructuredText FILE, one per line as "NAME: (LEVEL) message" with no line
number, so that two versions of a file compare. Roles and directives that
only Sphinx and the kernel's extensions define are not reported: docutils
alone does not know them, and the kernel's documentation build does."""
import io
import re
import sys

import docutils.core
import docutils.utils

SPHINX = re.compile(r'Unknown (interpreted text role|directive type) '
                    r'"(ref|doc|c:\w+|kbd|manpage|toctree|kernel-doc|'
                    r'code-block|only|glossary|index|kernel-feat|'
                    r'kernel-abi|kernel-include|maxdepth|SPDX)"')


def main():
    path = sys.argv[1]
    name = sys.argv[2] if len(sys.argv) > 2 else path
    with open(path, encoding='utf-8') as f:
        text = f.read()
    stream = io.StringIO()
    docutils.core.publish_doctree(
        text, source_path=name,
        settings_overrides={'report_level': 2, 'halt_level': 5,
                            'warning_stream': stream,
                            'file_insertion_enabled': False,
                            'raw_enabled': False})
    seen = set()
    for block in re.split(r'\n(?=\S)', stream.getvalue()):
        first = block.strip().splitlines()[0] if block.strip() else ''
        m = re.match(r'(.*?):\d+: (\(\w+/\d\) .*)', first)
        if not m:
            continue
        msg = '%s: %s' % (name, m.group(2))
        if SPHINX.search(msg) or msg in seen:
            continue
        seen.add(msg)
        print(msg)


if __name__ == '__main__':
    main()
