using System.Net;
using System.Text.Json;

namespace Miosa.Api.Tests;

/// <summary>Previews, preview tokens, share links and branding through a real node: API, edge, host and a dev server in a sandbox.</summary>
[Collection(SharedNodeCollection.Name)]
public class PreviewApiTests(SharedNode shared)
{
    private readonly MiosaNode _node = shared.Node;

    private async Task<(HttpClient Api, string SandboxId)> SandboxWithAppAsync(int port = 3000)
    {
        var api = _node.Client();
        var id = await api.CreateSandboxAsync();
        await PreviewApp.StartAsync(api, id, port);
        return (api, id);
    }

    [Fact]
    public async Task An_agent_opens_a_preview_and_the_edge_serves_the_dev_server_to_those_allowed()
    {
        var (api, id) = await SandboxWithAppAsync();
        var preview = await api.PostJsonAsync($"/v1/sandboxes/{id}/previews", new { port = 3000, external_user_id = "u-7" }, HttpStatusCode.Created);
        var url = preview.GetProperty("url").GetString()!;
        Assert.Matches("^prv_[a-z0-9]+$", preview.GetProperty("id").GetString());
        Assert.Equal($"http://3000-{id[4..]}.sandbox.localhost:{_node.EdgePort}/", url);
        Assert.Equal("private", preview.GetProperty("visibility").GetString());
        Assert.Equal("u-7", preview.GetProperty("external_user_id").GetString());
        // The same port again answers the same preview.
        var again = await api.PostJsonAsync($"/v1/sandboxes/{id}/previews", new { port = 3000 }, HttpStatusCode.OK);
        Assert.Equal(preview.GetProperty("id").GetString(), again.GetProperty("id").GetString());
        var list = await (await api.GetAsync($"/v1/sandboxes/{id}/previews")).ReadJsonAsync();
        Assert.Equal(url, Assert.Single(list.GetProperty("data").EnumerateArray()).GetProperty("url").GetString());

        using var visitor = new PreviewVisitor(_node.EdgePort);
        var refused = await visitor.WaitForAsync(url + "echo", HttpStatusCode.Unauthorized);
        Assert.Equal("text/html", refused.Content.Headers.ContentType?.MediaType);

        // The organization's key opens it (agents) and never reaches the app.
        var byKey = await PreviewVisitor.EchoAsync(await visitor.GetAsync(url + "echo?x=1", _node.DefaultKey));
        Assert.Equal("", byKey.GetProperty("authorization").GetString());
        Assert.Equal("", byKey.GetProperty("token").GetString());
        Assert.Equal($"3000-{id[4..]}.sandbox.localhost:{_node.EdgePort}", byKey.GetProperty("host").GetString());
        Assert.Equal("/echo?x=1", byKey.GetProperty("path").GetString());

        // A browser gets a short-lived token; the link sets a cookie for this host and loses the token.
        var token = await api.PostJsonAsync("/v1/preview-tokens", new { sandbox_id = id, port = 3000, ttl_seconds = 600 }, HttpStatusCode.Created);
        var link = token.GetProperty("url").GetString()!;
        Assert.StartsWith(url + "?token=mp_", link);
        var exchange = await visitor.GetAsync(link.Replace("/?token=", "/echo?token="));
        Assert.Equal(HttpStatusCode.Found, exchange.StatusCode);
        Assert.Equal("/echo", exchange.Headers.Location!.OriginalString);
        var page = await PreviewVisitor.EchoAsync(await visitor.GetAsync(url + "echo"));
        Assert.DoesNotContain("miosa_preview", page.GetProperty("cookie").GetString());
        Assert.DoesNotContain("mp_", page.GetProperty("path").GetString());

        // The dev server's WebSocket (hot reload) works through the edge with the cookie.
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        var invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                await s.ConnectAsync(IPAddress.Loopback, _node.EdgePort, ct);
                return new System.Net.Sockets.NetworkStream(s, ownsSocket: true);
            },
            CookieContainer = visitor.Cookies,
        });
        await socket.ConnectAsync(new Uri(url.Replace("http://", "ws://") + "ws"), invoker, CancellationToken.None);
        await socket.SendAsync("ping"u8.ToArray(), System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[64];
        var received = await socket.ReceiveAsync(buffer, CancellationToken.None);
        Assert.Equal("pong:ping", System.Text.Encoding.UTF8.GetString(buffer, 0, received.Count));

        // Closing the preview takes it off the edge.
        Assert.Equal(HttpStatusCode.NoContent, (await api.DeleteAsync($"/v1/previews/{preview.GetProperty("id").GetString()}")).StatusCode);
        await visitor.WaitForAsync(url + "echo", HttpStatusCode.NotFound, _node.DefaultKey);
        Assert.Empty((await (await api.GetAsync($"/v1/sandboxes/{id}/previews")).ReadJsonAsync()).GetProperty("data").EnumerateArray());
    }

    [Fact]
    public async Task A_public_preview_needs_no_credential_and_dies_with_its_sandbox()
    {
        var (api, id) = await SandboxWithAppAsync();
        var url = (await api.PostJsonAsync($"/v1/sandboxes/{id}/previews", new { port = 3000, visibility = "public" }, HttpStatusCode.Created))
            .GetProperty("url").GetString()!;
        using var visitor = new PreviewVisitor(_node.EdgePort);
        var page = await visitor.WaitForAsync(url, HttpStatusCode.OK);
        Assert.Contains("Hello from the sandbox", await page.Content.ReadAsStringAsync());

        var idle = (await api.PostJsonAsync($"/v1/sandboxes/{id}/previews", new { port = 5999, visibility = "public" }, HttpStatusCode.Created))
            .GetProperty("url").GetString()!;
        var notListening = await visitor.WaitForAsync(idle, HttpStatusCode.BadGateway);
        Assert.Contains("Nothing is listening on port 5999", await notListening.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.NoContent, (await api.DeleteAsync($"/v1/sandboxes/{id}")).StatusCode);
        var gone = await visitor.WaitForAsync(url, HttpStatusCode.NotFound);
        Assert.Equal("text/html", gone.Content.Headers.ContentType?.MediaType);
        await (await api.PostAsync($"/v1/sandboxes/{id}/previews", MiosaNode.Json(new { port = 3000 })))
            .AssertProblemAsync(HttpStatusCode.Conflict, "sandbox_not_running");
    }

    [Fact]
    public async Task Bad_preview_and_token_requests_name_the_field_and_other_organizations_see_nothing()
    {
        using var api = _node.Client();
        var id = await api.CreateSandboxAsync();
        foreach (var (body, field) in new (object, string)[]
                 {
                     (new { }, "port"), (new { port = 0 }, "port"), (new { port = 70000 }, "port"), (new { port = "3000" }, "port"),
                     (new { port = 3000, visibility = "secret" }, "visibility"), (new { port = 3000, metadata = new { k = 1 } }, "metadata.k"),
                 })
        {
            await (await api.PostAsync($"/v1/sandboxes/{id}/previews", MiosaNode.Json(body))).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", field);
        }
        foreach (var (body, field) in new (object, string)[]
                 {
                     (new { sandbox_id = id }, "ttl_seconds"), (new { sandbox_id = id, ttl_seconds = 86401 }, "ttl_seconds"),
                     (new { sandbox_id = id, ttl_seconds = 0 }, "ttl_seconds"), (new { ttl_seconds = 60 }, "sandbox_id"),
                     (new { sandbox_id = id, ttl_seconds = 60, port = -1 }, "port"),
                 })
        {
            await (await api.PostAsync("/v1/preview-tokens", MiosaNode.Json(body))).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", field);
        }
        await (await api.DeleteAsync("/v1/previews/prv_nonsense")).AssertProblemAsync(HttpStatusCode.NotFound, "preview_not_found");
        await (await api.PostAsync("/v1/sandboxes/sbx_missing/previews", MiosaNode.Json(new { port = 3000 }))).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");

        var preview = await api.PostJsonAsync($"/v1/sandboxes/{id}/previews", new { port = 3000 }, HttpStatusCode.Created);
        using var other = _node.Client(await _node.CreateOrganizationAsync($"prv-other-{Guid.NewGuid():N}"[..20]));
        await (await other.PostAsync($"/v1/sandboxes/{id}/previews", MiosaNode.Json(new { port = 3000 }))).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
        await (await other.GetAsync($"/v1/sandboxes/{id}/previews")).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
        await (await other.DeleteAsync($"/v1/previews/{preview.GetProperty("id").GetString()}")).AssertProblemAsync(HttpStatusCode.NotFound, "preview_not_found");
        await (await other.PostAsync("/v1/preview-tokens", MiosaNode.Json(new { sandbox_id = id, ttl_seconds = 60 }))).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
        await (await other.PostAsync("/v1/share-tokens", MiosaNode.Json(new { sandbox_id = id, port = 3000 }))).AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");

        // Another organization's valid token does not open this sandbox's preview either.
        var otherId = await other.CreateSandboxAsync();
        var foreignToken = (await other.PostJsonAsync("/v1/preview-tokens", new { sandbox_id = otherId, ttl_seconds = 60 }, HttpStatusCode.Created))
            .GetProperty("token").GetString();
        using var visitor = new PreviewVisitor(_node.EdgePort);
        await visitor.WaitForAsync(preview.GetProperty("url").GetString() + $"?token={foreignToken}", HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_share_link_with_a_password_opens_after_the_password_and_stops_everywhere_once_revoked()
    {
        var (api, id) = await SandboxWithAppAsync();
        var preview = await api.PostJsonAsync($"/v1/sandboxes/{id}/previews", new { port = 3000 }, HttpStatusCode.Created);
        await (await api.PostAsync("/v1/share-tokens", MiosaNode.Json(new { sandbox_id = id, port = 4000 })))
            .AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "preview_not_found", "port");
        await (await api.PostAsync("/v1/share-tokens", MiosaNode.Json(new { sandbox_id = id, port = 3000, password = "ab" })))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "password");

        var share = await api.PostJsonAsync("/v1/share-tokens", new { sandbox_id = id, port = 3000, password = "correct horse", ttl_seconds = 3600, external_user_id = "client-1" },
            HttpStatusCode.Created);
        var shareId = share.GetProperty("id").GetString()!;
        var secret = share.GetProperty("token").GetString()!;
        Assert.StartsWith("ms_", secret);
        Assert.True(share.GetProperty("password_protected").GetBoolean());
        Assert.Equal($"{preview.GetProperty("url").GetString()}?token={secret}", share.GetProperty("url").GetString());
        var listed = await (await api.GetAsync("/v1/share-tokens?external_user_id=client-1")).ReadJsonAsync();
        var row = Assert.Single(listed.GetProperty("data").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, row.GetProperty("token").ValueKind);

        using var visitor = new PreviewVisitor(_node.EdgePort);
        var ask = await visitor.WaitForAsync(share.GetProperty("url").GetString()!, HttpStatusCode.Unauthorized);
        Assert.Contains("type=\"password\"", await ask.Content.ReadAsStringAsync());
        var host = new Uri(preview.GetProperty("url").GetString()!);
        var wrong = await visitor.SendAsync(PasswordForm(host, secret, "wrong"));
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        var right = await visitor.SendAsync(PasswordForm(host, secret, "correct horse"));
        Assert.Equal(HttpStatusCode.SeeOther, right.StatusCode);
        await PreviewVisitor.EchoAsync(await visitor.GetAsync(host + "echo"));

        Assert.Equal(HttpStatusCode.NoContent, (await api.DeleteAsync($"/v1/share-tokens/{shareId}")).StatusCode);
        await visitor.WaitForAsync(host + "echo", HttpStatusCode.Unauthorized);
        await (await api.GetAsync($"/v1/share-tokens/{shareId}")).AssertProblemAsync(HttpStatusCode.NotFound, "share_token_not_found");
        Assert.Empty((await (await api.GetAsync("/v1/share-tokens?external_user_id=client-1")).ReadJsonAsync()).GetProperty("data").EnumerateArray());
    }

    [Fact]
    public async Task Branding_is_validated_and_every_edge_page_of_the_organization_carries_it_escaped()
    {
        using var api = _node.Client(await _node.CreateOrganizationAsync($"brand-{Guid.NewGuid():N}"[..20]));
        foreach (var (body, field) in new (object, string)[]
                 {
                     (new { accent_color = "#112233" }, "logo_url"),
                     (new { logo_url = "http://acme.test/logo.png", accent_color = "#112233" }, "logo_url"),
                     (new { logo_url = "javascript:alert(1)", accent_color = "#112233" }, "logo_url"),
                     (new { logo_url = "https://acme.test/logo.png", accent_color = "red" }, "accent_color"),
                     (new { logo_url = "https://acme.test/logo.png", accent_color = "#11223g" }, "accent_color"),
                     (new { logo_url = "https://acme.test/logo.png", accent_color = "#112233", support_url = "ftp://x" }, "support_url"),
                 })
        {
            await (await api.PutAsync("/v1/tenant/branding", MiosaNode.Json(body))).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", field);
        }
        var logo = "https://acme.test/logo.png?x=\"><script>alert(1)</script>";
        var set = await (await api.PutAsync("/v1/tenant/branding", MiosaNode.Json(new { logo_url = logo, accent_color = "#AA0066", support_url = "https://acme.test/help" }))).ReadJsonAsync();
        Assert.Equal("#aa0066", set.GetProperty("accent_color").GetString());
        Assert.Equal(logo, (await (await api.GetAsync("/v1/tenant/branding")).ReadJsonAsync()).GetProperty("logo_url").GetString());

        var id = await api.CreateSandboxAsync();
        var url = (await api.PostJsonAsync($"/v1/sandboxes/{id}/previews", new { port = 3000 }, HttpStatusCode.Created)).GetProperty("url").GetString()!;
        using var visitor = new PreviewVisitor(_node.EdgePort);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string page;
        do page = await (await visitor.GetAsync(url)).Content.ReadAsStringAsync();
        while (!page.Contains("#aa0066") && DateTime.UtcNow < deadline);
        Assert.Contains("#aa0066", page);
        Assert.DoesNotContain("Miosa", page);
        Assert.DoesNotContain("<script>", page);
        Assert.Contains("&lt;script&gt;", page);
        Assert.Contains("https://acme.test/help", page);
    }

    private static HttpRequestMessage PasswordForm(Uri host, string secret, string password) =>
        new(HttpMethod.Post, new Uri(host, "/.miosa/share-password"))
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = secret, ["password"] = password }),
        };
}
