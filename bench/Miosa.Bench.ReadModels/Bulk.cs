using System.Data.Common;
using System.Diagnostics;
using Miosa.Actors.ReadModels;

namespace Miosa.Bench.ReadModels;

/// <summary>
/// Fills a table with a read model's own statement, many rows to a transaction: the same SQL the
/// read model runs once per event, without a connection and a commit per row. SQLite re-binds one
/// prepared command; PostgreSQL sends batches of statements (one round trip each).
/// </summary>
public static class Bulk
{
    private const int PerTransaction = 20_000;
    private const int PerBatch = 500;

    public static async Task<TimeSpan> WriteAsync(
        ReadModelDatabase database, string sql, IReadOnlyList<string> names, IEnumerable<object?[]> rows, Action<long>? progress, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        await using var connection = await database.OpenAsync(ct);
        using var row = rows.GetEnumerator();
        var more = true;
        long written = 0;
        while (more)
        {
            ct.ThrowIfCancellationRequested();
            await using var transaction = await connection.BeginTransactionAsync(ct);
            var inTransaction = 0;
            if (connection.CanCreateBatch)
            {
                while (inTransaction < PerTransaction && more)
                {
                    await using var batch = connection.CreateBatch();
                    batch.Transaction = transaction;
                    while (batch.BatchCommands.Count < PerBatch && (more = row.MoveNext()))
                    {
                        var command = batch.CreateBatchCommand();
                        command.CommandText = sql;
                        for (var i = 0; i < names.Count; i++)
                        {
                            var p = command.CreateParameter();
                            p.ParameterName = names[i];
                            p.Value = row.Current[i] ?? DBNull.Value;
                            command.Parameters.Add(p);
                        }
                        batch.BatchCommands.Add(command);
                    }
                    if (batch.BatchCommands.Count > 0) await batch.ExecuteNonQueryAsync(ct);
                    inTransaction += batch.BatchCommands.Count;
                }
            }
            else
            {
                await using var command = connection.CreateCommand();
                command.Transaction = transaction;
                command.CommandText = sql;
                var parameters = names.Select(name =>
                {
                    var p = command.CreateParameter();
                    p.ParameterName = name;
                    command.Parameters.Add(p);
                    return p;
                }).ToArray();
                while (inTransaction < PerTransaction && (more = row.MoveNext()))
                {
                    for (var i = 0; i < parameters.Length; i++) parameters[i].Value = row.Current[i] ?? DBNull.Value;
                    await command.ExecuteNonQueryAsync(ct);
                    inTransaction++;
                }
            }
            await transaction.CommitAsync(ct);
            written += inTransaction;
            progress?.Invoke(written);
        }
        return Stopwatch.GetElapsedTime(started);
    }

    /// <summary>"1,234/s".</summary>
    public static string Rate(double count, TimeSpan elapsed) => $"{count / Math.Max(elapsed.TotalSeconds, 1e-9):N0}/s";
}
