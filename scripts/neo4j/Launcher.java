// Embedded Neo4j (community) with a Bolt connector on loopback, for tests and development.
// Runs without a build step (Java single-file source mode):
//   NEO4J_PASSWORD=... java -cp 'lib/*' scripts/neo4j/Launcher.java <home-dir> <bolt-port>
// scripts/neo4j-local fetches lib/ from Maven Central, compiles this file once into its cache
// (source mode would recompile it on every start) and manages the process.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;

public class Launcher {
    public static void main(String[] args) {
        try {
            run(args);
        } catch (Throwable e) {
            // Neo4j's non-daemon threads would keep a half-started JVM alive: exit so that
            // neo4j-local sees the failure at once (the shutdown hook still closes the stores).
            e.printStackTrace();
            System.out.println("neo4j-launcher: FAILED: " + e); // one line for neo4j-local to show
            System.exit(1);
        }
    }

    static void run(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: Launcher <home-dir> <bolt-port>  (password in $NEO4J_PASSWORD)");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        int port = Integer.parseInt(args[1]);
        String password = System.getenv("NEO4J_PASSWORD");
        if (password == null || password.isEmpty()) {
            System.err.println("NEO4J_PASSWORD is not set");
            System.exit(2);
        }

        SocketAddress bolt = new SocketAddress("127.0.0.1", port);
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, bolt)
                .setConfig(BoltConnector.advertised_address, bolt)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                // The machine is shared with the tests: keep the page cache small.
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(256))
                // Keep no transaction logs past a checkpoint: the default keeps two days of them, and
                // benchmark loads of 100k DNAs grew one development store's logs to 46 GB.
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "false")
                // No "anonymous usage data" reports to neo4j.com from tests.
                .setConfig(GraphDatabaseSettings.udc_enabled, false)
                // Netty's default 5 s quiet period, paid twice, made every stop take 10 s longer.
                .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0)
                .build();
        // SIGTERM/SIGINT run shutdown hooks: close the stores cleanly so the next start needs no recovery.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("neo4j-launcher: shutting down");
            dbms.shutdown();
            System.out.println("neo4j-launcher: stopped");
        }, "neo4j-shutdown"));

        // Embedded code runs with full rights, so it may set user neo4j's password on the system
        // database (what `neo4j-admin dbms set-initial-password` does for a server). The first
        // Cypher statement of a JVM is slow (~15 s on 2 busy cores), so this is skipped when a marker
        // says the store already has this password; a changed $NEO4J_PASSWORD is applied again.
        Path marker = home.resolve("data/dnakb-password.sha256");
        String digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                .digest(password.getBytes(StandardCharsets.UTF_8)));
        if (!Files.exists(marker) || !Files.readString(marker).equals(digest)) {
            try {
                dbms.database("system").executeTransactionally(
                        "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
            } catch (RuntimeException e) {
                // Neo4j refuses to "change" a password to the one it already has: that is success.
                if (!String.valueOf(e.getMessage()).contains("cannot be the same")) throw e;
            }
            Files.writeString(marker, digest);
        }
        // scripts/neo4j-local waits for this line before probing Bolt with the password.
        System.out.println("neo4j-launcher: READY bolt://127.0.0.1:" + port);
        new CountDownLatch(1).await(); // serve until the JVM is told to stop
    }
}
