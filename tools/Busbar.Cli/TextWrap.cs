using System.Text;

namespace Busbar.Cli;

/// <summary>Wraps plain text at spaces, never inside a word, for lines the console writes without Spectre.</summary>
internal static class TextWrap
{
    /// <summary>
    /// Splits <paramref name="line"/> into lines no wider than <paramref name="width"/>, breaking only at
    /// spaces; continuation lines start with <paramref name="indent"/> spaces. A word longer than a line
    /// (a path) stays whole on a line of its own.
    /// </summary>
    public static IEnumerable<string> Wrap(string line, int width, int indent)
    {
        if (line.Length <= width)
        {
            yield return line;
            yield break;
        }

        var lead = line.Length - line.TrimStart(' ').Length;
        var words = line[lead..].Split(' ');
        var current = new StringBuilder().Append(' ', lead);
        var empty = true;
        foreach (var word in words)
        {
            if (!empty && current.Length + 1 + word.Length > width)
            {
                yield return current.ToString();
                current.Clear().Append(' ', indent);
                empty = true;
            }

            if (!empty)
                current.Append(' ');
            current.Append(word);
            empty = false;
        }

        yield return current.ToString();
    }
}
