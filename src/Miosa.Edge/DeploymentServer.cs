using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Net.Http.Headers;
using Miosa.Actors.Routing;

namespace Miosa.Edge;

/// <summary>
/// Serves deployments at <c>&lt;slug&gt;.&lt;workspace or organization slug&gt;.&lt;base domain&gt;</c> from their live
/// static release: content types by extension, a strong ETag from the file's SHA-256 (304 on
/// If-None-Match), byte ranges (206), <c>index.html</c> for directories, an optional single-page-app
/// fallback, and the organization's branded 404. Only GET and HEAD.
/// </summary>
public sealed class DeploymentServer(EdgeRoutes routes, string baseDomain, ReleaseCache releases, DeploymentEgress? egress = null)
{
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();
    private readonly string _suffix = "." + baseDomain.ToLowerInvariant();

    /// <summary>The deployment a request's host names, or null (then it is not a deployment host).</summary>
    public DeploymentRoute? Find(HttpContext http)
    {
        var host = http.Request.Host.Host.TrimEnd('.').ToLowerInvariant();
        return host.EndsWith(_suffix, StringComparison.Ordinal) ? routes.Current.DeploymentAt(host[..^_suffix.Length]) : null;
    }

    public async Task ServeAsync(HttpContext http, DeploymentRoute route)
    {
        var branding = routes.Current.Tenant(route.OrganizationId)?.Branding;
        if (route.Release is not { Kind: "static" } release)
        {
            await PageAsync(http, 404, "Nothing is live here yet", "This deployment has no live version.", branding);
            return;
        }
        if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method))
        {
            http.Response.Headers.Allow = "GET, HEAD";
            await PageAsync(http, 405, "Method not allowed", "A static site answers GET and HEAD only.", branding);
            return;
        }
        UnpackedRelease files;
        try
        {
            files = await releases.GetAsync(release.Sha256);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            await PageAsync(http, 502, "Release unavailable", "This site's files could not be loaded by the edge.", branding);
            return;
        }
        var path = Uri.UnescapeDataString(http.Request.Path.Value ?? "/").TrimStart('/');
        if (path.Split('/').Any(s => s is "." or "..") || path.Contains('\\') || path.Contains('\0'))
        {
            await PageAsync(http, 404, "Page not found", "There is no page at this address.", branding);
            return;
        }
        var file = path.Length == 0 || path.EndsWith('/') ? path + "index.html" : path;
        if (!files.FileHashes.ContainsKey(file))
        {
            // A directory without its slash: redirect so its relative links resolve.
            if (files.FileHashes.ContainsKey(file + "/index.html"))
            {
                http.Response.StatusCode = 308;
                http.Response.Headers.Location = "/" + path + "/" + http.Request.QueryString;
                return;
            }
            if (!(route.SpaFallback && files.FileHashes.ContainsKey("index.html") && !Path.HasExtension(file)))
            {
                await PageAsync(http, 404, "Page not found", "There is no page at this address.", branding);
                return;
            }
            file = "index.html";
        }
        var full = Path.Combine(files.Directory, file);
        var contentType = ContentTypes.TryGetContentType(file, out var type) ? type : "application/octet-stream";
        if (contentType is "text/html" or "text/css" or "text/plain" or "text/javascript" or "application/javascript") contentType += "; charset=utf-8";
        http.Response.Headers.CacheControl = "public, max-age=0, must-revalidate";
        http.Response.Headers["X-Miosa-Deployment"] = route.DeploymentId;
        var etag = new EntityTagHeaderValue($"\"{files.FileHashes[file]}\"");
        await TypedResults.PhysicalFile(full, contentType, entityTag: etag, enableRangeProcessing: true).ExecuteAsync(http);
        // The body sent (the whole file or the range); a 304 or a HEAD sends none.
        if (!HttpMethods.IsHead(http.Request.Method) && http.Response.StatusCode is 200 or 206 && http.Response.ContentLength is { } sent)
            egress?.Add(route.DeploymentId, sent);
    }

    private static async Task PageAsync(HttpContext http, int status, string title, string message, Miosa.Actors.Organizations.TenantBranding? branding)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "text/html; charset=utf-8";
        http.Response.Headers.CacheControl = "no-store";
        if (!HttpMethods.IsHead(http.Request.Method)) await http.Response.WriteAsync(ErrorPage.Render(status, title, message, branding));
    }

    /// <summary>The public URL of a deployment host label: <c>http://&lt;label&gt;.&lt;base domain&gt;[:&lt;edge port&gt;]/</c>.</summary>
    public static string Url(string hostLabel, string baseDomain, int edgePort) =>
        $"http://{hostLabel}.{baseDomain}{(edgePort is 80 ? "" : $":{edgePort.ToString(System.Globalization.CultureInfo.InvariantCulture)}")}/";
}
