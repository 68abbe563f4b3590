package io.framebridge.tools;

import java.util.HashMap;
import java.util.Map;

/** The peers' command-line flags (docs/peers.md): {@code --name value} or {@code --name=value}. */
final class Flags {
    private Flags() {}

    /** Names (without "--") to values; a message saying what is wrong for a malformed command line. */
    static Map<String, String> parse(String[] a) throws IllegalArgumentException {
        Map<String, String> v = new HashMap<>();
        for (int i = 0; i < a.length; i++) {
            String k = a[i];
            if (!k.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + k);
            }
            String val;
            int eq = k.indexOf('=');
            if (eq > 0) {
                val = k.substring(eq + 1);
                k = k.substring(0, eq);
            } else {
                if (i + 1 >= a.length) {
                    throw new IllegalArgumentException(k + " needs a value");
                }
                val = a[++i];
            }
            v.put(k.substring(2), val);
        }
        return v;
    }
}
