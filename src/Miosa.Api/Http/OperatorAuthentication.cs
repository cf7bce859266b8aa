using System.Security.Cryptography;
using System.Text;
using Miosa.Actors.Hosting;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Http;

public static class OperatorAuthentication
{
    /// <summary>Every /admin/v1 endpoint: the operator token (MIOSA_ADMIN_TOKEN), compared in constant time.</summary>
    public static RouteGroupBuilder RequireAdminToken(this RouteGroupBuilder group, MiosaNodeOptions options) =>
        group.AddEndpointFilter(async (ctx, next) =>
        {
            if (options.AdminToken is null)
                return Problems.Of(403, "admin_disabled", "Set MIOSA_ADMIN_TOKEN to use the operator API.");
            var header = ctx.HttpContext.Request.Headers.Authorization.ToString();
            var presented = Encoding.UTF8.GetBytes(header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : "");
            return CryptographicOperations.FixedTimeEquals(presented, Encoding.UTF8.GetBytes(options.AdminToken))
                ? await next(ctx)
                : Problems.Of(401, "unauthorized", "Send the operator token: Authorization: Bearer <MIOSA_ADMIN_TOKEN>.");
        });
}
