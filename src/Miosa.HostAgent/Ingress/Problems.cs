using Microsoft.AspNetCore.Http;
using Miosa.Actors.Common;

namespace Miosa.HostAgent.Ingress;

/// <summary>RFC 9457 problem details with Miosa's stable machine <c>code</c> (and the offending <c>field</c>).</summary>
public static class Problems
{
    public static IResult ToResult(this Rejection rejection) => rejection.ToResult(new Dictionary<string, object?>());

    /// <summary>The problem with members of its own besides <c>code</c> and <c>field</c> (e.g. what a resource still holds).</summary>
    public static IResult ToResult(this Rejection rejection, IReadOnlyDictionary<string, object?> members)
    {
        var extensions = new Dictionary<string, object?>(members) { ["code"] = rejection.Code };
        if (rejection.Field is not null) extensions["field"] = rejection.Field;
        return Results.Problem(rejection.Detail, statusCode: rejection.Status, title: TitleOf(rejection.Status), extensions: extensions);
    }

    public static IResult Invalid(string field, string detail) => Rejection.Invalid(field, detail).ToResult();

    public static IResult Of(int status, string code, string detail) => new Rejection(code, detail, status).ToResult();

    private static string TitleOf(int status) => status switch
    {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    };
}
