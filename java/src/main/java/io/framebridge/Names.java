package io.framebridge;

/** Name rules: region names 1..31 bytes of [A-Za-z0-9._-]; segment names the same chars, no "." or "..". */
final class Names {
    private Names() {}

    static boolean validChar(int c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    }

    static void checkRegion(String name) {
        if (name == null || name.isEmpty() || name.length() > Layout.MAX_NAME_BYTES) {
            throw new IllegalArgumentException("region name must be 1.." + Layout.MAX_NAME_BYTES + " bytes: " + name);
        }
        for (int i = 0; i < name.length(); i++) {
            if (!validChar(name.charAt(i))) {
                throw new IllegalArgumentException("region name " + name + ": invalid character at " + i);
            }
        }
    }

    static void checkSegment(String name) {
        if (name == null || name.isEmpty() || name.length() > 255 || name.equals(".") || name.equals("..")) {
            throw new IllegalArgumentException("bad segment name: " + name);
        }
        for (int i = 0; i < name.length(); i++) {
            if (!validChar(name.charAt(i))) {
                throw new IllegalArgumentException("segment name " + name + ": invalid character at " + i);
            }
        }
    }
}
