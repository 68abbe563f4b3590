package io.framebridge;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Process liveness as layout.md §7 defines it: a process is alive iff {@code /proc/PID/stat} exists,
 * its state (field 3) is not {@code Z} or {@code X}, and its start time (field 22, clock ticks since
 * boot, parsed after the last {@code ')'}) equals the recorded one. Pure Java file reads; only slow paths
 * (attach, a peer that seems stuck) call this.
 */
public final class Liveness {
    private Liveness() {}

    /** This process's pid. */
    public static final long SELF_PID = ProcessHandle.current().pid();
    /** This process's start time from /proc/self/stat. */
    public static final long SELF_START = selfStart();

    private static long selfStart() {
        long[] st = stat(SELF_PID);
        if (st == null) {
            throw new FramebridgeException("cannot read /proc/" + SELF_PID + "/stat: framebridge needs Linux /proc");
        }
        return st[1];
    }

    /**
     * Parses {@code /proc/PID/stat}: returns {state char, start time}, or null if the process does not exist
     * or the file cannot be parsed.
     */
    static long[] stat(long pid) {
        if (pid <= 0 || pid > Integer.MAX_VALUE) {
            return null;
        }
        byte[] raw;
        try {
            raw = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "stat"));
        } catch (IOException e) {
            return null;
        }
        return parseStat(new String(raw, StandardCharsets.US_ASCII));
    }

    /** Parses the text of a stat file (exposed for tests); null if malformed. */
    static long[] parseStat(String s) {
        int close = s.lastIndexOf(')');
        if (close < 0) {
            return null;
        }
        String[] f = s.substring(close + 1).trim().split(" +");
        // f[0] is field 3 (state); field 22 (starttime) is f[19].
        if (f.length < 20 || f[0].length() != 1) {
            return null;
        }
        try {
            return new long[] {f[0].charAt(0), Long.parseLong(f[19])};
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** The start time of a running process, or -1 if it does not exist or is a zombie. */
    public static long startTime(long pid) {
        long[] st = stat(pid);
        if (st == null || st[0] == 'Z' || st[0] == 'X') {
            return -1;
        }
        return st[1];
    }

    /** True iff pid is alive and started at {@code start} (§7). */
    public static boolean isAlive(long pid, long start) {
        if (pid == SELF_PID) {
            return start == SELF_START;
        }
        long st = startTime(pid);
        return st >= 0 && st == start;
    }
}
