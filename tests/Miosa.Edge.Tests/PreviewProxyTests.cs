using System.Net;
using System.Net.Sockets;
using System.Text;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using Miosa.Actors.Organizations;
using Miosa.Actors.Previews;
using Miosa.Actors.Routing;
using Miosa.Actors.ShareTokens;

namespace Miosa.Edge.Tests;

/// <summary>
/// The edge's own rules (who may open a preview, what reaches the app, which page a refusal shows),
/// with a real edge server on loopback in front of a stand-in ingress.
/// </summary>
public sealed class PreviewProxyTests : TestKit, IAsyncLifetime
{
    private const string OrgA = "org_aaaaaaaaaaaaaaaa";
    private const string OrgB = "org_bbbbbbbbbbbbbbbb";
    private const string Private = "sbx_privateaaaaaaaaa";
    private const string Public = "sbx_publicaaaaaaaaaa";
    private const string OtherOrgs = "sbx_otherorgbbbbbbbb";
    private const string Stopped = "sbx_stoppedaaaaaaaaa";
    private readonly EdgeRoutes _routes = new();
    private readonly PreviewTokenKeys _keys = new(StandInIngress.Secret);
    private StandInIngress _ingress = null!;
    private EdgeServer _edge = null!;
    private Akka.TestKit.TestProbe _organizations = null!;

    public async Task InitializeAsync()
    {
        _ingress = await StandInIngress.StartAsync();
        _organizations = CreateTestProbe();
        _routes.Apply(new SandboxRoute(Private, OrgA, _ingress.Url, true,
            [new PreviewRoute("prv_a", 3000, PreviewVisibility.Private), new PreviewRoute("prv_b", 4000, PreviewVisibility.Private)], 1));
        _routes.Apply(new SandboxRoute(Public, OrgA, _ingress.Url, true, [new PreviewRoute("prv_c", 3000, PreviewVisibility.Public)], 1));
        _routes.Apply(new SandboxRoute(OtherOrgs, OrgB, _ingress.Url, true, [new PreviewRoute("prv_d", 3000, PreviewVisibility.Private)], 1));
        _routes.Apply(new SandboxRoute(Stopped, OrgA, null, false, [new PreviewRoute("prv_e", 3000, PreviewVisibility.Public)], 1));
        _routes.Apply(new TenantRoute(OrgA, new TenantBranding("https://cdn.acme.test/logo.png?<script>alert(1)</script>", "#ff0066", "https://acme.test/help"),
            "previews.acme.test", 1));
        _edge = await EdgeServer.StartAsync("127.0.0.1", 0, _routes, new EdgeSettings("localhost", StandInIngress.Secret, _keys, _organizations.Ref));
    }

    public async Task DisposeAsync()
    {
        await _edge.DisposeAsync();
        await _ingress.DisposeAsync();
    }

    [Fact]
    public async Task An_address_with_no_route_answers_the_Miosa_not_found_page()
    {
        var response = await SendAsync("3000-nothinghereatall.sandbox.localhost", "/");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var page = await response.Content.ReadAsStringAsync();
        Assert.Contains("Miosa", page);
        Assert.Contains("No preview is served at this address", page);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync("localhost", "/")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync("99999-privateaaaaaaaaa.sandbox.localhost", "/")).StatusCode);
    }

    [Fact]
    public async Task A_private_preview_without_credentials_is_a_branded_401_that_never_shows_Miosa_and_escapes_branding()
    {
        var response = await SendAsync(Host(Private, 3000), "/");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var page = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("Miosa", page);
        Assert.DoesNotContain("<script>", page);
        Assert.Contains("&lt;script&gt;", page);
        Assert.Contains("#ff0066", page);
        Assert.Contains("https://acme.test/help", page);
    }

    [Fact]
    public async Task A_public_preview_is_forwarded_with_the_public_host_and_without_a_spoofed_one()
    {
        var echo = await StandInIngress.EchoAsync(await SendAsync(Host(Public, 3000), "/app/page?x=1", request =>
        {
            request.Headers.TryAddWithoutValidation("X-Forwarded-Host", "evil.test");
            request.Headers.TryAddWithoutValidation("X-Miosa-Node-Token", "guess");
        }));
        Assert.Equal(Public, echo.GetProperty("sandbox").GetString());
        Assert.Equal("3000", echo.GetProperty("port").GetString());
        Assert.Equal("/app/page", echo.GetProperty("path").GetString());
        Assert.Equal("?x=1", echo.GetProperty("query").GetString());
        Assert.Equal($"{Host(Public, 3000)}:{EdgePort}", echo.GetProperty("host").GetString());
    }

    [Fact]
    public async Task A_preview_token_becomes_a_host_only_cookie_and_never_reaches_the_app()
    {
        var token = _keys.Sign(new PreviewGrant(OrgA, Private, null, DateTimeOffset.UtcNow.AddMinutes(5)));
        var exchange = await SendAsync(Host(Private, 3000), $"/page?a=b&token={token}");
        Assert.Equal(HttpStatusCode.Found, exchange.StatusCode);
        Assert.Equal("/page?a=b", exchange.Headers.Location!.OriginalString);
        var setCookie = Assert.Single(exchange.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith($"{PreviewProxy.CookieName}={token}", setCookie);
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=lax", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("domain=", setCookie, StringComparison.OrdinalIgnoreCase);

        var echo = await StandInIngress.EchoAsync(await SendAsync(Host(Private, 3000), "/page?a=b",
            r => r.Headers.TryAddWithoutValidation("Cookie", $"theme=dark; {PreviewProxy.CookieName}={token}")));
        Assert.Equal("theme=dark", echo.GetProperty("cookie").GetString());
        Assert.Equal("?a=b", echo.GetProperty("query").GetString());

        // A token without a port opens every preview of its sandbox; a POST keeps its body and loses the token.
        var post = await SendAsync(Host(Private, 4000), $"/submit?token={token}", r => r.Method = HttpMethod.Post);
        Assert.Equal("", (await StandInIngress.EchoAsync(post)).GetProperty("query").GetString());
    }

    [Fact]
    public async Task Forged_tampered_expired_and_misdirected_preview_tokens_are_401()
    {
        var now = DateTimeOffset.UtcNow;
        var good = _keys.Sign(new PreviewGrant(OrgA, Private, 3000, now.AddMinutes(5)));
        var forged = new PreviewTokenKeys("another-secret").Sign(new PreviewGrant(OrgA, Private, 3000, now.AddMinutes(5)));
        var tampered = good[..^3] + (good[^3] == 'a' ? "bcd" : "abc");
        var expired = _keys.Sign(new PreviewGrant(OrgA, Private, 3000, now.AddSeconds(-1)));
        var otherPort = _keys.Sign(new PreviewGrant(OrgA, Private, 4000, now.AddMinutes(5)));
        var otherSandbox = _keys.Sign(new PreviewGrant(OrgA, Public, null, now.AddMinutes(5)));
        var otherOrg = _keys.Sign(new PreviewGrant(OrgB, Private, null, now.AddMinutes(5)));
        foreach (var token in new[] { forged, tampered, expired, otherPort, otherSandbox, otherOrg, "mp_garbage", "mp_a.b" })
        {
            var response = await SendAsync(Host(Private, 3000), $"/?token={Uri.EscapeDataString(token)}");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            var asCookie = await SendAsync(Host(Private, 3000), "/", r => r.Headers.TryAddWithoutValidation("Cookie", $"{PreviewProxy.CookieName}={token}"));
            Assert.Equal(HttpStatusCode.Unauthorized, asCookie.StatusCode);
        }
        var expiredPage = await (await SendAsync(Host(Private, 3000), $"/?token={expired}")).Content.ReadAsStringAsync();
        Assert.Contains("expired", expiredPage);
        Assert.Equal(HttpStatusCode.Found, (await SendAsync(Host(Private, 3000), $"/?token={good}")).StatusCode);
    }

    [Fact]
    public async Task A_cookie_for_one_preview_host_never_opens_another_sandbox()
    {
        var token = _keys.Sign(new PreviewGrant(OrgA, Private, 3000, DateTimeOffset.UtcNow.AddMinutes(5)));
        var response = await SendAsync(Host(OtherOrgs, 3000), "/", r => r.Headers.TryAddWithoutValidation("Cookie", $"{PreviewProxy.CookieName}={token}"));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task The_organization_key_opens_its_own_private_previews_and_is_not_passed_to_the_app()
    {
        const string key = "msk_aaaaaaaaaaaaaaaa0123456789012345678901234567890123456";
        var answer = Task.Run(async () =>
        {
            var ask = await _organizations.ExpectMsgAsync<Authenticate>(TimeSpan.FromSeconds(10));
            Assert.Equal(ApiKeySecret.Hash(key), ask.KeyHash);
            _organizations.Reply(new Authenticated(OrgA, "key_x", ["full"]));
        });
        var echo = await StandInIngress.EchoAsync(await SendAsync(Host(Private, 3000), "/", r => r.Headers.Authorization = new("Bearer", key)));
        await answer;
        Assert.Equal("", echo.GetProperty("authorization").GetString());

        // Another organization's key is not even asked about.
        var other = await SendAsync(Host(Private, 3000), "/", r => r.Headers.Authorization = new("Bearer", "msk_bbbbbbbbbbbbbbbb0123456789012345678901234567890123456"));
        Assert.Equal(HttpStatusCode.Unauthorized, other.StatusCode);
        await _organizations.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task A_share_link_opens_until_revoked_or_expired()
    {
        var (secret, route) = Share("tok_sharedaaaaaaaaaa", Private, 3000, password: null, expiresAt: null);
        _routes.Apply(route);
        var exchange = await SendAsync(Host(Private, 3000), $"/?token={secret}");
        Assert.Equal(HttpStatusCode.Found, exchange.StatusCode);
        var cookie = $"{PreviewProxy.CookieName}={secret}";
        await StandInIngress.EchoAsync(await SendAsync(Host(Private, 3000), "/", r => r.Headers.TryAddWithoutValidation("Cookie", cookie)));
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(Host(Private, 4000), $"/?token={secret}")).StatusCode);

        _routes.Apply(route with { Revoked = true, Version = 2 });
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(Host(Private, 3000), "/", r => r.Headers.TryAddWithoutValidation("Cookie", cookie))).StatusCode);
        // An older copy of the route (a late full-table page) does not bring it back.
        _routes.Apply(route);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(Host(Private, 3000), $"/?token={secret}")).StatusCode);

        var (expiredSecret, expired) = Share("tok_expiredaaaaaaaaa", Private, 3000, password: null, expiresAt: DateTimeOffset.UtcNow.AddSeconds(-1));
        _routes.Apply(expired);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(Host(Private, 3000), $"/?token={expiredSecret}")).StatusCode);
    }

    [Fact]
    public async Task A_password_protected_share_link_asks_for_the_password_and_limits_wrong_guesses()
    {
        var (secret, route) = Share("tok_passwordaaaaaaaa", Private, 3000, password: "open sesame", expiresAt: null);
        _routes.Apply(route);
        var ask = await SendAsync(Host(Private, 3000), $"/?token={secret}");
        Assert.Equal(HttpStatusCode.Unauthorized, ask.StatusCode);
        var form = await ask.Content.ReadAsStringAsync();
        Assert.Contains("type=\"password\"", form);
        Assert.DoesNotContain("Miosa", form);
        // The link alone, as a cookie, is not enough.
        Assert.Equal(HttpStatusCode.Unauthorized,
            (await SendAsync(Host(Private, 3000), "/", r => r.Headers.TryAddWithoutValidation("Cookie", $"{PreviewProxy.CookieName}={secret}"))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized,
            (await SendAsync(Host(Private, 3000), "/", r => r.Headers.TryAddWithoutValidation("Cookie", $"{PreviewProxy.CookieName}={secret}.AAAA"))).StatusCode);

        var right = await PostPasswordAsync(secret, "open sesame");
        Assert.Equal(HttpStatusCode.SeeOther, right.StatusCode);
        var cookie = Assert.Single(right.Headers.GetValues("Set-Cookie")).Split(';')[0];
        await StandInIngress.EchoAsync(await SendAsync(Host(Private, 3000), "/", r => r.Headers.TryAddWithoutValidation("Cookie", cookie)));

        for (var i = 0; i < SharePasswordAttempts.MaxFailures; i++)
            Assert.Equal(HttpStatusCode.Unauthorized, (await PostPasswordAsync(secret, $"guess {i}")).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await PostPasswordAsync(secret, "guess again")).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await PostPasswordAsync(secret, "open sesame")).StatusCode);
    }

    [Fact]
    public async Task Stopped_sandboxes_and_apps_not_listening_get_edge_pages_not_json()
    {
        var stopped = await SendAsync(Host(Stopped, 3000), "/");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, stopped.StatusCode);
        Assert.Equal("text/html", stopped.Content.Headers.ContentType?.MediaType);
        var notListening = await SendAsync(Host(Public, 3000), "/not-listening");
        Assert.Equal(HttpStatusCode.BadGateway, notListening.StatusCode);
        Assert.Equal("text/html", notListening.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Nothing is listening on port 3000", await notListening.Content.ReadAsStringAsync());
        Assert.False(notListening.Headers.Contains("X-Miosa-Error"));
    }

    [Fact]
    public async Task A_verified_tenant_domain_serves_its_own_sandboxes_only()
    {
        var own = await SendAsync($"3000-{Public[4..]}.previews.acme.test", "/");
        Assert.Equal($"3000-{Public[4..]}.previews.acme.test:{EdgePort}", (await StandInIngress.EchoAsync(own)).GetProperty("host").GetString());
        var foreign = await SendAsync($"3000-{OtherOrgs[4..]}.previews.acme.test", "/");
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync($"3000-{Public[4..]}.unverified.test", "/")).StatusCode);
    }

    [Fact]
    public async Task Oversized_headers_are_refused()
    {
        var response = await SendAsync(Host(Public, 3000), "/", r => r.Headers.TryAddWithoutValidation("X-Big", new string('a', EdgeServer.MaxRequestHeadersBytes + 1)));
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task Slow_clients_do_not_starve_others_and_are_cut_off()
    {
        var slow = new List<TcpClient>();
        for (var i = 0; i < 200; i++)
        {
            var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, EdgePort);
            await client.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {Host(Public, 3000)}\r\nX-Slow: "));
            slow.Add(client);
        }
        await StandInIngress.EchoAsync(await SendAsync(Host(Public, 3000), "/"));
        // The server closes a connection whose headers never end.
        var stream = slow[0].GetStream();
        stream.ReadTimeout = (int)(EdgeServer.RequestHeadersTimeout + TimeSpan.FromSeconds(10)).TotalMilliseconds;
        var buffer = new byte[4096];
        var read = 1;
        try
        {
            while (read > 0) read = await stream.ReadAsync(buffer).AsTask().WaitAsync(EdgeServer.RequestHeadersTimeout + TimeSpan.FromSeconds(10));
        }
        catch (IOException)
        {
            read = 0; // reset by the server: closed as well
        }
        Assert.Equal(0, read);
        foreach (var client in slow) client.Dispose();
    }

    private int EdgePort => new Uri(_edge.Url).Port;

    private static string Host(string sandboxId, int port) => PreviewAddress.Host(sandboxId, port, "localhost");

    private static (string Secret, ShareTokenRoute Route) Share(string tokenId, string sandboxId, int port, string? password, DateTimeOffset? expiresAt)
    {
        var secret = ShareTokenSecret.Issue(tokenId);
        return (secret, new ShareTokenRoute(tokenId, OrgA, sandboxId, port, ShareTokenSecret.Hash(secret),
            password is null ? null : SharePassword.Hash(password), expiresAt, false, 1));
    }

    private Task<HttpResponseMessage> PostPasswordAsync(string secret, string password) =>
        SendAsync(Host(Private, 3000), PreviewProxy.PasswordPath, r =>
        {
            r.Method = HttpMethod.Post;
            r.Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = secret, ["password"] = password });
        });

    private async Task<HttpResponseMessage> SendAsync(string host, string pathAndQuery, Action<HttpRequestMessage>? configure = null)
    {
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
        var request = new HttpRequestMessage(HttpMethod.Get, $"{_edge.Url}{pathAndQuery}");
        request.Headers.Host = $"{host}:{EdgePort}";
        configure?.Invoke(request);
        return await client.SendAsync(request);
    }
}
