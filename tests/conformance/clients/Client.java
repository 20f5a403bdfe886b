// The conformance plan sent with Java's java.net.http.HttpClient (JDK 11+), as a default client
// is built: HttpClient.newHttpClient() prefers HTTP/2, so on http:// it offers an h2c upgrade
// that an HTTP/1.1 server declines by answering in HTTP/1.1.
// Usage: java Client.java BASE_URL PLAN.tsv (one check a line: name, method, path, headers and
// body in base64, the HTTP/1.0 flag). Prints one JSON line per check:
// {client, check, status, headers: {name: [values]}, body: base64, version} or {client, check, error}.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;

public class Client {
    static final String CLIENT = "java";

    public static void main(String[] args) throws Exception {
        String base = args[0];
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        for (String line : Files.readAllLines(Path.of(args[1]), StandardCharsets.UTF_8)) {
            if (line.isBlank()) continue;
            String[] fields = line.split("\t", -1);
            String name = fields[0];
            if (fields[5].equals("1")) continue; // HTTP/1.0: HttpClient speaks 1.1 and 2 only
            try {
                System.out.println(send(client, base, fields));
            } catch (Exception error) {
                System.out.println("{\"client\":\"" + CLIENT + "\",\"check\":" + quoted(name)
                        + ",\"error\":" + quoted(error.toString()) + "}");
            }
        }
    }

    static String send(HttpClient client, String base, String[] fields) throws Exception {
        String name = fields[0], method = fields[1], path = fields[2];
        byte[] body = Base64.getDecoder().decode(fields[4]);
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + "/~" + CLIENT + path))
                .timeout(Duration.ofSeconds(10))
                .method(method, body.length == 0
                        ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(body));
        String head = new String(Base64.getDecoder().decode(fields[3]), StandardCharsets.UTF_8);
        for (String header : head.split("\n")) {
            if (header.isEmpty()) continue;
            int colon = header.indexOf(':');
            request.header(header.substring(0, colon), header.substring(colon + 1).strip());
        }
        HttpResponse<byte[]> answer = client.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
        StringBuilder headers = new StringBuilder("{");
        for (Map.Entry<String, List<String>> entry : answer.headers().map().entrySet()) {
            if (headers.length() > 1) headers.append(',');
            headers.append(quoted(entry.getKey().toLowerCase())).append(":[");
            List<String> values = entry.getValue();
            for (int i = 0; i < values.size(); i++) {
                if (i > 0) headers.append(',');
                headers.append(quoted(values.get(i)));
            }
            headers.append(']');
        }
        headers.append('}');
        String version = answer.version() == HttpClient.Version.HTTP_1_1 ? "1.1" : "2";
        return "{\"client\":\"" + CLIENT + "\",\"check\":" + quoted(name)
                + ",\"status\":" + answer.statusCode()
                + ",\"headers\":" + headers
                + ",\"body\":" + quoted(Base64.getEncoder().encodeToString(answer.body()))
                + ",\"version\":" + quoted(version) + "}";
    }

    static String quoted(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) { // plain if/else: JDK 11 has no switch arrows
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }
}
