using System.Net;
using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Miosa.Actors.Fleet;
using Miosa.Actors.Organizations;
using Miosa.Actors.Previews;
using Miosa.Actors.Routing;
using Miosa.Actors.ShareTokens;
using Yarp.ReverseProxy.Forwarder;

namespace Miosa.Edge;

/// <summary>What the edge needs besides its routes: the base domain, the shared secret and the keys it derives.</summary>
public sealed record EdgeSettings(string BaseDomain, string ClusterSecret, PreviewTokenKeys PreviewTokens, IActorRef Organizations);

/// <summary>
/// Serves previews: finds the sandbox port the host names, checks the visitor may see it (public,
/// an <c>mp_</c> or <c>ms_</c> token exchanged for a host-only cookie, or the organization's key),
/// and forwards to the host's node ingress with YARP's forwarder. Miosa's own credentials never
/// reach the app; every refusal is an edge page in the organization's branding.
/// </summary>
public sealed class PreviewProxy
{
    public const string CookieName = "miosa_preview";
    public const string PasswordPath = "/.miosa/share-password";
    private const string TokenParameter = "token";
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(5);

    private readonly EdgeRoutes _routes;
    private readonly EdgeSettings _settings;
    private readonly IHttpForwarder _forwarder;
    private readonly SharePasswordAttempts _attempts;
    private readonly TimeProvider _clock;
    private readonly byte[] _cookieKey;
    private readonly HttpMessageInvoker _invoker = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        ActivityHeadersPropagator = null,
        ConnectTimeout = TimeSpan.FromSeconds(10),
    });

    private readonly ForwarderRequestConfig _config = new()
    {
        // An idle WebSocket (hot reload) or SSE stream stays open this long.
        ActivityTimeout = TimeSpan.FromHours(1),
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
    };

    public PreviewProxy(EdgeRoutes routes, EdgeSettings settings, IHttpForwarder forwarder, TimeProvider clock)
    {
        _routes = routes;
        _settings = settings;
        _forwarder = forwarder;
        _clock = clock;
        _attempts = new SharePasswordAttempts(clock);
        _cookieKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(settings.ClusterSecret), 32,
            info: Encoding.UTF8.GetBytes("miosa share password cookie"));
    }

    public async Task HandleAsync(HttpContext http)
    {
        var table = _routes.Current;
        var address = PreviewAddress.Parse(http.Request.Host.Host, _settings.BaseDomain, table);
        var sandbox = address is null ? null : table.Sandbox(address.SandboxId);
        // A sandbox of another organization under a tenant's domain is as absent as a missing one.
        if (address is null || sandbox is null || (address.DomainOwner is { } owner && owner != sandbox.OrganizationId))
        {
            await PageAsync(http, 404, "Nothing is here", "No preview is served at this address.", table.Tenant(address?.DomainOwner)?.Branding);
            return;
        }
        var branding = table.Tenant(sandbox.OrganizationId)?.Branding;
        var preview = sandbox.PreviewOn(address.Port);
        if (preview is null)
        {
            await PageAsync(http, 404, "Preview not found", "This preview does not exist, was closed, or its sandbox was destroyed.", branding);
            return;
        }
        // A suspended sandbox that resumes on traffic is woken by its host's ingress as the request passes.
        if (sandbox.IngressUrl is null || (!sandbox.Running && !(sandbox.Suspended && sandbox.AutoResume)))
        {
            await PageAsync(http, 503, "Preview unavailable", sandbox.Suspended
                ? "The sandbox behind this preview is suspended."
                : "The sandbox behind this preview is not running.", branding);
            return;
        }
        if (http.Request.Path.Equals(PasswordPath, StringComparison.Ordinal) && HttpMethods.IsPost(http.Request.Method))
        {
            await CheckPasswordAsync(http, table, sandbox, address.Port, branding);
            return;
        }
        var token = http.Request.Query[TokenParameter].ToString();
        if (preview.Visibility == PreviewVisibility.Private || token.Length > 0)
        {
            var access = await AuthorizeAsync(http, table, sandbox, address.Port, token);
            if (!access.Granted)
            {
                if (access.Status != 0) await PageAsync(http, access.Status, access.Title!, access.Message!, branding, access.Form);
                return;
            }
        }
        await ForwardAsync(http, sandbox, address.Port, branding);
    }

    private async Task<Access> AuthorizeAsync(HttpContext http, RouteTable table, SandboxRoute sandbox, int port, string token)
    {
        var now = _clock.GetUtcNow();
        var isPublic = sandbox.PreviewOn(port)!.Visibility == PreviewVisibility.Public;
        if (token.Length > 0)
        {
            // A link's token becomes a cookie for this host only, and the visible URL loses it.
            if (token.StartsWith(PreviewTokenKeys.Prefix, StringComparison.Ordinal))
            {
                var grant = _settings.PreviewTokens.Verify(token);
                if (grant is null || !grant.Opens(sandbox.OrganizationId, sandbox.SandboxId, port, DateTimeOffset.MinValue))
                    return isPublic ? Access.Allow : Access.Deny(401, "Invalid link", "This preview link is not valid for this preview.");
                if (now >= grant.ExpiresAt)
                    return isPublic ? Access.Allow : Access.Deny(401, "Link expired", "This preview link has expired. Ask for a new one.");
                return RedirectWithCookie(http, token, grant.ExpiresAt - now);
            }
            if (ShareTokenSecret.TokenIdOf(token) is { } tokenId && ShareRoute(table, token, tokenId, sandbox, port, now) is { } share)
            {
                if (share.PasswordHash is not null) return Access.Deny(401, "Password required", "This link is protected by a password.", PasswordForm(token, null));
                return RedirectWithCookie(http, token, share.ExpiresAt is { } expires ? expires - now : null);
            }
            return isPublic ? Access.Allow : Access.Deny(401, "Invalid link", "This preview link is not valid, was revoked, or has expired.");
        }
        if (http.Request.Cookies[CookieName] is { Length: > 0 } cookie)
        {
            if (cookie.StartsWith(PreviewTokenKeys.Prefix, StringComparison.Ordinal)
                && _settings.PreviewTokens.Verify(cookie) is { } grant && grant.Opens(sandbox.OrganizationId, sandbox.SandboxId, port, DateTimeOffset.MinValue))
            {
                return now < grant.ExpiresAt ? Access.Allow : Access.Deny(401, "Link expired", "This preview link has expired. Ask for a new one.");
            }
            var (secret, proof) = SplitShareCookie(cookie);
            if (ShareTokenSecret.TokenIdOf(secret) is { } tokenId && ShareRoute(table, secret, tokenId, sandbox, port, now) is { } share
                && (share.PasswordHash is null || (proof is not null && CryptographicOperations.FixedTimeEquals(Proof(secret, share), proof))))
            {
                return Access.Allow;
            }
        }
        var header = http.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer msk_", StringComparison.OrdinalIgnoreCase) && await IsOrganizationKeyAsync(header[7..].Trim(), sandbox, http.RequestAborted))
            return Access.Allow;
        return Access.Deny(401, "Sign-in required", "This preview is private. Open it with the link you were given.");
    }

    private async Task CheckPasswordAsync(HttpContext http, RouteTable table, SandboxRoute sandbox, int port, TenantBranding? branding)
    {
        if (http.Request.ContentLength is > 4096 || !http.Request.HasFormContentType)
        {
            await PageAsync(http, 400, "Bad request", "Send the password form.", branding);
            return;
        }
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var token = form["token"].ToString();
        var now = _clock.GetUtcNow();
        if (ShareTokenSecret.TokenIdOf(token) is not { } tokenId || ShareRoute(table, token, tokenId, sandbox, port, now) is not { PasswordHash: { } hash } share)
        {
            await PageAsync(http, 401, "Invalid link", "This preview link is not valid, was revoked, or has expired.", branding);
            return;
        }
        if (!_attempts.Allowed(tokenId))
        {
            http.Response.Headers.RetryAfter = ((int)SharePasswordAttempts.Window.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await PageAsync(http, 429, "Too many attempts", "Too many wrong passwords. Wait a minute and try again.", branding);
            return;
        }
        if (!SharePassword.Verify(form["password"].ToString(), hash))
        {
            _attempts.RecordFailure(tokenId);
            await PageAsync(http, 401, "Password required", "That password is not right.", branding, PasswordForm(token, "Wrong password."));
            return;
        }
        _attempts.RecordSuccess(tokenId);
        SetCookie(http, $"{token}.{Base64Url(Proof(token, share))}", share.ExpiresAt is { } expires ? expires - now : null);
        http.Response.StatusCode = StatusCodes.Status303SeeOther;
        http.Response.Headers.Location = "/";
    }

    private async Task ForwardAsync(HttpContext http, SandboxRoute sandbox, int port, TenantBranding? branding)
    {
        // The app decides what it accepts; the edge only guards its own limits (headers, slow clients).
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = null;
        var transformer = new ToNodeIngress(_settings.ClusterSecret);
        var error = await _forwarder.SendAsync(http, NodeIngressContract.PortPrefix(sandbox.IngressUrl!, sandbox.SandboxId, port), _invoker, _config, transformer);
        if (transformer.IngressError is { } code)
        {
            var (status, title, message) = code switch
            {
                "app_not_listening" => (502, "App not listening", $"Nothing is listening on port {port} in this sandbox yet. Start the app and reload."),
                "process_limit_reached" => (503, "Preview busy", "The sandbox is at its process limit."),
                "sandbox_suspended" => (503, "Preview unavailable", "The sandbox behind this preview is suspended."),
                _ => (503, "Preview unavailable", "The sandbox behind this preview is not answering."),
            };
            await PageAsync(http, status, title, message, branding);
        }
        else if (error != ForwarderError.None && !http.Response.HasStarted)
        {
            await PageAsync(http, 502, "Preview unavailable", "The sandbox's host did not answer.", branding);
        }
    }

    private ShareTokenRoute? ShareRoute(RouteTable table, string secret, string tokenId, SandboxRoute sandbox, int port, DateTimeOffset now) =>
        table.ShareToken(tokenId) is { } share && share.OrganizationId == sandbox.OrganizationId && share.Opens(sandbox.SandboxId, port, now)
        && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(ShareTokenSecret.Hash(secret)), Encoding.ASCII.GetBytes(share.TokenHash))
            ? share
            : null;

    private async Task<bool> IsOrganizationKeyAsync(string key, SandboxRoute sandbox, CancellationToken ct)
    {
        if (ApiKeySecret.OrganizationOf(key) != sandbox.OrganizationId) return false;
        try
        {
            return await _settings.Organizations.Ask<object>(new Authenticate(sandbox.OrganizationId, ApiKeySecret.Hash(key)), AskTimeout, ct) is Authenticated;
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return false;
        }
    }

    // Proves the visitor typed the password: bound to the token and to its current password hash.
    private byte[] Proof(string secret, ShareTokenRoute share) =>
        HMACSHA256.HashData(_cookieKey, Encoding.UTF8.GetBytes($"{secret}|{share.PasswordHash}"));

    private static (string Secret, byte[]? Proof) SplitShareCookie(string cookie)
    {
        var dot = cookie.IndexOf('.');
        if (dot < 0) return (cookie, null);
        try
        {
            var proof = cookie[(dot + 1)..].Replace('-', '+').Replace('_', '/');
            return (cookie[..dot], Convert.FromBase64String(proof.PadRight(proof.Length + (4 - proof.Length % 4) % 4, '=')));
        }
        catch (FormatException)
        {
            return (cookie[..dot], null);
        }
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static Access RedirectWithCookie(HttpContext http, string value, TimeSpan? lifetime)
    {
        SetCookie(http, value, lifetime);
        if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method)) return Access.Allow;
        var query = QueryString.Create(http.Request.Query.Where(q => q.Key != TokenParameter));
        http.Response.StatusCode = StatusCodes.Status302Found;
        http.Response.Headers.Location = $"{http.Request.PathBase}{http.Request.Path}{query}";
        http.Response.Headers.CacheControl = "no-store";
        return Access.Handled;
    }

    private static void SetCookie(HttpContext http, string value, TimeSpan? lifetime) =>
        // No Domain attribute: the cookie belongs to this exact preview host and never opens another.
        http.Response.Cookies.Append(CookieName, value, new CookieOptions
        {
            HttpOnly = true,
            Secure = http.Request.IsHttps,
            SameSite = http.Request.IsHttps ? SameSiteMode.None : SameSiteMode.Lax,
            Path = "/",
            MaxAge = lifetime,
        });

    private static string PasswordForm(string token, string? error) =>
        (error is null ? "" : $"<p role=\"alert\"><strong>{ErrorPage.Escape(error)}</strong></p>")
        + $"<form method=\"post\" action=\"{PasswordPath}\"><input type=\"hidden\" name=\"token\" value=\"{ErrorPage.Escape(token)}\">"
        + "<label for=\"password\">Password</label><br><input id=\"password\" name=\"password\" type=\"password\" required autofocus> "
        + "<button type=\"submit\">Open preview</button></form>";

    private static async Task PageAsync(HttpContext http, int status, string title, string message, TenantBranding? branding, string? form = null)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "text/html; charset=utf-8";
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Headers["X-Content-Type-Options"] = "nosniff";
        http.Response.Headers.ContentSecurityPolicy = "default-src 'none'; img-src https:; style-src 'unsafe-inline'; form-action 'self'";
        if (HttpMethods.IsHead(http.Request.Method)) return;
        await http.Response.WriteAsync(ErrorPage.Render(status, title, message, branding, form), http.RequestAborted);
    }

    private sealed record Access(bool Granted, int Status, string? Title, string? Message, string? Form)
    {
        public static readonly Access Allow = new(true, 0, null, null, null);

        /// <summary>Answered already (a redirect that sets the cookie).</summary>
        public static readonly Access Handled = new(false, 0, null, null, null);

        public static Access Deny(int status, string title, string message, string? form = null) => new(false, status, title, message, form);
    }

    /// <summary>Rewrites a preview request for the node ingress and keeps Miosa's credentials from the app.</summary>
    private sealed class ToNodeIngress(string clusterSecret) : HttpTransformer
    {
        public string? IngressError { get; private set; }

        public override async ValueTask TransformRequestAsync(HttpContext http, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken ct)
        {
            await base.TransformRequestAsync(http, proxyRequest, destinationPrefix, ct);
            var query = QueryString.Create(http.Request.Query.Where(q => q.Key != TokenParameter));
            proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, http.Request.Path, query);
            var headers = proxyRequest.Headers;
            // Whatever the client claims, the app sees the host it really asked for and no Miosa secrets.
            headers.Remove(NodeIngressContract.OriginalHostHeader);
            headers.Remove(NodeIngressContract.TokenHeader);
            headers.Remove("X-Forwarded-Proto");
            headers.TryAddWithoutValidation(NodeIngressContract.OriginalHostHeader, http.Request.Host.Value);
            headers.TryAddWithoutValidation("X-Forwarded-Proto", http.Request.Scheme);
            headers.TryAddWithoutValidation(NodeIngressContract.TokenHeader, clusterSecret);
            if (headers.Authorization is { Parameter: { } credential } && credential.StartsWith("msk_", StringComparison.Ordinal))
                headers.Authorization = null;
            if (http.Request.Cookies.ContainsKey(CookieName))
            {
                headers.Remove("Cookie");
                var others = http.Request.Cookies.Where(c => c.Key != CookieName).Select(c => $"{c.Key}={c.Value}").ToList();
                if (others.Count > 0) headers.TryAddWithoutValidation("Cookie", string.Join("; ", others));
            }
        }

        public override ValueTask<bool> TransformResponseAsync(HttpContext http, HttpResponseMessage? proxyResponse, CancellationToken ct)
        {
            if (proxyResponse is not null && proxyResponse.Headers.TryGetValues(NodeIngressContract.ErrorHeader, out var codes))
            {
                // The ingress answered, not the app: the edge renders its own page instead of the JSON.
                IngressError = codes.First();
                return ValueTask.FromResult(false);
            }
            return base.TransformResponseAsync(http, proxyResponse, ct);
        }
    }
}
