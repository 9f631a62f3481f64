-- With +sourcepos, pandoc wraps every inline run in a Span carrying its position. Those
-- wrappers would split raw HTML such as <a id="x"></a> in two and bloat the tree, so they
-- go; elements with attributes of their own (headings, links, images, code, spans with an
-- id, divs, tables) keep their data-pos, and paragraphs get theirs from the HTML writer.
function Span(span)
  if span.attributes.wrapper then
    return span.content
  end
end

-- A code block in a list gets the list's position as well as its own (pandoc 3.9), and the
-- writer would keep the first: keep the block's own, the last one.
function CodeBlock(block)
  local own, others = nil, {}
  for i = 1, #block.attributes do
    local pair = block.attributes[i]
    if pair[1] == "data-pos" then
      own = pair[2]
    else
      table.insert(others, pair)
    end
  end
  if own then
    table.insert(others, {"data-pos", own})
    block.attributes = others
    return block
  end
end
