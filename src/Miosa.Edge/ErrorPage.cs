using System.Net;
using System.Text;
using Miosa.Actors.Organizations;

namespace Miosa.Edge;

/// <summary>
/// The pages the edge itself answers with (401, 403, 404, 429, 502, 503, the share password form):
/// small, static, accessible HTML. With an organization's branding they show its logo, colour and
/// support link and never the Miosa wordmark. Every value is HTML-escaped.
/// </summary>
public static class ErrorPage
{
    private const string DefaultAccent = "#4f46e5";

    public static string Render(int status, string title, string message, TenantBranding? branding, string? formHtml = null)
    {
        var accent = branding?.AccentColor ?? DefaultAccent;
        var html = new StringBuilder(2048);
        html.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"robots\" content=\"noindex\">")
            .Append("<title>").Append(status).Append(' ').Append(Escape(title)).Append("</title><style>")
            .Append("body{font-family:system-ui,sans-serif;margin:0;background:#f8fafc;color:#0f172a}")
            .Append("main{max-width:32rem;margin:12vh auto;padding:2rem;background:#fff;border-radius:12px;border-top:6px solid ")
            .Append(Escape(accent)).Append("}h1{font-size:1.4rem;margin:.5rem 0}a{color:").Append(Escape(accent)).Append('}')
            .Append(".code{color:#475569;font-size:.9rem}img{max-height:40px}")
            .Append("input,button{font:inherit;padding:.5rem;margin-top:.5rem}button{background:").Append(Escape(accent))
            .Append(";color:#fff;border:0;border-radius:6px}</style></head><body><main>");
        if (branding is not null)
            html.Append("<img src=\"").Append(Escape(branding.LogoUrl)).Append("\" alt=\"Logo\">");
        else
            html.Append("<p class=\"code\"><strong>Miosa</strong></p>");
        html.Append("<p class=\"code\">Error ").Append(status).Append("</p><h1>").Append(Escape(title)).Append("</h1><p>")
            .Append(Escape(message)).Append("</p>");
        if (formHtml is not null) html.Append(formHtml);
        if (branding?.SupportUrl is { } support)
            html.Append("<p><a href=\"").Append(Escape(support)).Append("\">Contact support</a></p>");
        html.Append("</main></body></html>");
        return html.ToString();
    }

    public static string Escape(string text) => WebUtility.HtmlEncode(text);
}
