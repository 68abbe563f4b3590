package io.framebridge.tools;

import io.framebridge.RegionKind;
import io.framebridge.Segment;
import io.framebridge.Spec;
import java.io.IOException;
import java.util.Locale;

/**
 * Creates (or unlinks) a named segment under /dev/shm, for manual runs of the peer programs:
 *
 * <pre>
 * Create NAME ring=spsc:r:65536 ring=mpsc:m:65536 mailbox=state:1024
 * Create --unlink NAME
 * </pre>
 */
public final class Create {
    private Create() {}

    public static void main(String[] args) throws IOException {
        if (args.length == 2 && args[0].equals("--unlink")) {
            try (Segment s = Segment.attach(args[1])) {
                s.unlink();
            }
            return;
        }
        if (args.length < 2) {
            System.err.println("usage: Create NAME ring=spsc|mpsc:NAME:CAPACITY... mailbox=NAME:CAPACITY... | Create --unlink NAME");
            System.exit(2);
        }
        Spec spec = new Spec();
        for (int i = 1; i < args.length; i++) {
            String[] kv = args[i].split("=", 2);
            String[] f = kv.length == 2 ? kv[1].split(":") : new String[0];
            if (kv[0].equals("ring") && f.length == 3) {
                spec.ring(f[1], RegionKind.valueOf(f[0].toUpperCase(Locale.ROOT)), Long.parseLong(f[2]));
            } else if (kv[0].equals("mailbox") && f.length == 2) {
                spec.mailbox(f[0], Long.parseLong(f[1]));
            } else {
                System.err.println("bad region " + args[i]);
                System.exit(2);
            }
        }
        try (Segment s = Segment.create(args[0], spec)) {
            System.out.println("created " + args[0] + " size=" + s.size() + " generation=" + s.generation());
        }
    }
}
